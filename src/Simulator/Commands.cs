using System.Runtime.InteropServices;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using VhostDeviceCan.VhostUser;
using VhostDeviceCan.VirtioCanWire;

namespace VhostDeviceCan.Simulator;

internal static class Commands
{
    public static int Send(string socket, string[] texts, bool start)
    {
        var frames = new CanFrame[texts.Length];
        for (int i = 0; i < texts.Length; i++)
        {
            if (!CansendSyntax.TryParse(texts[i], out frames[i], out string? error))
            {
                Console.Error.WriteLine($"vhost-can-sim: error: bad frame '{texts[i]}': {error}");
                return 2;
            }
        }
        return WithGuest(socket, guest =>
        {
            if (start && !guest.Start()) return Fail("the device refused START");
            int refused = 0;
            foreach (CanFrame frame in frames)
            {
                byte result = guest.SendAndWait(frame);
                if (result != VirtioCan.VIRTIO_CAN_RESULT_OK)
                {
                    refused++;
                    Console.Error.WriteLine($"{frame}: refused by the device (NOT_OK)");
                }
            }
            return refused == 0 ? 0 : 1;
        });
    }

    public static int Dump(string socket, int count, double timeoutSeconds, bool logFormat)
    {
        string name = Path.GetFileName(socket);
        return WithGuest(socket, guest =>
        {
            if (!guest.Start()) return Fail("the device refused START");
            Console.Error.WriteLine($"vhost-can-sim: listening on {socket}");
            using var stop = new CancellationTokenSource();
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
            Span<CanFrame> frames = new CanFrame[64];
            TimeSpan idle = timeoutSeconds > 0 ? TimeSpan.FromSeconds(timeoutSeconds) : TimeSpan.FromMilliseconds(200);
            DateTime lastFrame = DateTime.UtcNow;
            int printed = 0;
            while (!stop.IsCancellationRequested && (count <= 0 || printed < count))
            {
                int received = guest.Receive(frames, TimeSpan.FromMilliseconds(200));
                for (int i = 0; i < received && (count <= 0 || printed < count); i++, printed++)
                    Console.WriteLine(logFormat ? $"{name} {frames[i]}" : CansendSyntax.FormatCandump(name, frames[i]));
                if (received > 0)
                {
                    Console.Out.Flush();
                    lastFrame = DateTime.UtcNow;
                }
                else if (timeoutSeconds > 0 && DateTime.UtcNow - lastFrame >= idle)
                {
                    break;
                }
            }
            guest.Stop();
            return count > 0 && printed < count ? 1 : 0;
        });
    }

    public static int Info(string socket) => WithGuest(socket, guest =>
    {
        var offered = guest.Frontend.Negotiation.OfferedFeatures;
        Console.WriteLine($"socket:             {socket}");
        Console.WriteLine($"offered features:   0x{offered:x} ({Describe(offered)})");
        Console.WriteLine($"negotiated:         0x{guest.Negotiated:x} ({Describe(guest.Negotiated)})");
        Console.WriteLine($"protocol features:  {guest.Frontend.AckedProtocolFeatures}");
        ushort status = guest.ReadStatus();
        Console.WriteLine($"config status:      0x{status:x4}{((status & VirtioCan.VIRTIO_CAN_S_CTRL_BUSOFF) != 0 ? " (BUS-OFF)" : "")}");
        Console.WriteLine($"START:              {(guest.Start() ? "OK" : "NOT_OK")}");
        Console.WriteLine($"STOP:               {(guest.Stop() ? "OK" : "NOT_OK")}");
        return 0;
    });

    private static string Describe(ulong features)
    {
        var names = new List<string>();
        void Add(int bit, string name) { if ((features & (1UL << bit)) != 0) names.Add(name); }
        Add(VirtioCan.VIRTIO_CAN_F_CAN_CLASSIC, "CAN_CLASSIC");
        Add(VirtioCan.VIRTIO_CAN_F_CAN_FD, "CAN_FD");
        Add(VirtioCan.VIRTIO_CAN_F_RTR_FRAMES, "RTR_FRAMES");
        Add(VirtioCan.VIRTIO_CAN_F_LATE_TX_ACK, "LATE_TX_ACK");
        Add(VirtioFeatures.VIRTIO_RING_F_INDIRECT_DESC, "INDIRECT_DESC");
        Add(VirtioFeatures.VIRTIO_RING_F_EVENT_IDX, "EVENT_IDX");
        Add(VirtioFeatures.VHOST_USER_F_PROTOCOL_FEATURES, "PROTOCOL_FEATURES");
        Add(VirtioFeatures.VIRTIO_F_VERSION_1, "VERSION_1");
        return string.Join(' ', names);
    }

    internal static int WithGuest(string socket, Func<VirtioCanGuest, int> action)
    {
        try
        {
            using var guest = VirtioCanGuest.Connect(socket);
            return action(guest);
        }
        catch (Exception e) when (e is IOException or VhostUserException or TimeoutException or InvalidOperationException)
        {
            return Fail($"{socket}: {e.Message}");
        }
    }

    internal static int Fail(string message)
    {
        Console.Error.WriteLine($"vhost-can-sim: error: {message}");
        return 1;
    }
}
