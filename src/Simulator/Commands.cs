using VhostDeviceCan.CommandLine;
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
                throw new CommandFailure(ExitStatus.Usage, $"bad frame '{texts[i]}': {error}");
        }
        using var guest = DaemonConnection.Connect(socket);
        if (start && !guest.Start()) return Refuse("the device refused START");
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
        return refused == 0 ? ExitStatus.Ok : ExitStatus.Refused;
    }

    public static int Info(string socket)
    {
        using var guest = DaemonConnection.Connect(socket);
        var offered = guest.Frontend.Negotiation.OfferedFeatures;
        Console.WriteLine($"socket:             {socket}");
        Console.WriteLine($"offered features:   0x{offered:x} ({Describe(offered)})");
        Console.WriteLine($"negotiated:         0x{guest.Negotiated:x} ({Describe(guest.Negotiated)})");
        Console.WriteLine($"protocol features:  {guest.Frontend.AckedProtocolFeatures}");
        ushort status = guest.ReadStatus();
        Console.WriteLine($"config status:      0x{status:x4}{((status & VirtioCan.VIRTIO_CAN_S_CTRL_BUSOFF) != 0 ? " (BUS-OFF)" : "")}");
        Console.WriteLine($"START:              {(guest.Start() ? "OK" : "NOT_OK")}");
        Console.WriteLine($"STOP:               {(guest.Stop() ? "OK" : "NOT_OK")}");
        return ExitStatus.Ok;
    }

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

    /// <summary>Reports a refusal by the device on stderr; returns <see cref="ExitStatus.Refused"/>.</summary>
    internal static int Refuse(string message)
    {
        Console.Error.WriteLine($"vhost-can-sim: {message}");
        return ExitStatus.Refused;
    }
}
