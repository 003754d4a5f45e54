using VhostDeviceCan.Can.Faults;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Can.Tests.Faults;

/// <summary>Two members of a real virtual bus, each behind a fault layer: what one sends, the other receives.</summary>
internal sealed class FaultTestBus : IDisposable
{
    public FaultTestBus(string? senderFaults = null, string? receiverFaults = null, int delayCapacity = FaultInjectingTransport.DefaultDelayCapacity)
    {
        var bus = new VirtualCanBus("faults-" + Guid.NewGuid().ToString("N"));
        Sender = new FaultInjectingTransport(bus.Join(), Rules(senderFaults), delayCapacity);
        Receiver = new FaultInjectingTransport(bus.Join(), Rules(receiverFaults), delayCapacity);
    }

    public FaultInjectingTransport Sender { get; }
    public FaultInjectingTransport Receiver { get; }

    /// <summary>Specs separated by ';', each as --fault takes it after "SOCKET=".</summary>
    public static FaultRules Rules(string? specs)
    {
        FaultRules rules = FaultRules.None;
        foreach (string spec in (specs ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
            rules = FaultSpec.Apply(rules, spec, out string? error) ?? throw new ArgumentException(error);
        return rules;
    }

    public static CanFrame Numbered(int i) => CanFrame.Classic((uint)i & 0x7FF, false, [(byte)i, (byte)(i >> 8), 0x55, 0xAA]);

    /// <summary>Sends frames 0..count-1 in batches of 16 (as the device does); asserts each is taken.</summary>
    public void SendNumbered(int count)
    {
        var frames = new CanFrame[16];
        for (int start = 0; start < count; start += frames.Length)
        {
            int n = Math.Min(frames.Length, count - start);
            for (int i = 0; i < n; i++) frames[i] = Numbered(start + i);
            Assert.Equal(n, Sender.TransmitBatch(frames.AsSpan(0, n), out TransmitStatus status));
            Assert.Equal(TransmitStatus.Sent, status);
        }
    }

    /// <summary>Everything the receiver has now, as the device takes it (readable or not).</summary>
    public static List<CanFrame> Drain(ICanTransport transport)
    {
        var all = new List<CanFrame>();
        var frames = new CanFrame[64];
        int count;
        do
        {
            count = transport.Receive(frames, out _);
            all.AddRange(frames.AsSpan(0, count));
        } while (count > 0);
        return all;
    }

    public static bool WaitReadable(int fd, int timeoutMs)
    {
        using var epoll = new Epoll();
        epoll.Add(fd, token: 1);
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];
        return epoll.Wait(events, timeoutMs) == 1;
    }

    public static bool IsReadable(int fd) => WaitReadable(fd, 0);

    public void Dispose()
    {
        Sender.Dispose();
        Receiver.Dispose();
    }
}
