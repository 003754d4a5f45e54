using VhostDeviceCan.Interop;

namespace VhostDeviceCan.SocketCan.Tests;

/// <summary>
/// vcan transmits the instant a frame is handed to it, so on its own it never pushes back and
/// confirms at once. A plug queueing discipline on vcan1 holds frames the way a busy controller
/// would, which shows what the daemon relies on: a confirmation means "transmitted", not
/// "accepted", and a full queue is reported without losing the frame.
/// </summary>
[Trait("Category", "RealCan")]
public sealed class TransmitQueueTests : IDisposable
{
    private const string Interface = "vcan1";

    /// <summary>Holds up to <paramref name="limitBytes"/> of frames (a classic frame counts 16) until released.</summary>
    private static void Plug(int limitBytes) =>
        Vcan.Run("tc", "qdisc", "replace", "dev", Interface, "root", "plug", "limit", limitBytes.ToString());

    private static void Release() =>
        Vcan.Run("tc", "qdisc", "change", "dev", Interface, "root", "plug", "release_indefinite");

    // Back to vcan's default (no queue); frames still held are dropped. Fails harmlessly when a
    // test ended before plugging.
    public void Dispose() => Vcan.TryRun("tc", "qdisc", "del", "dev", Interface, "root");

    [Fact]
    public void Frames_held_in_the_queue_are_confirmed_only_once_transmitted()
    {
        using var sender = Vcan.Open(Interface);
        sender.ReceiveOwnMessages = true;
        using var receiver = Vcan.Open(Interface);
        using var buffer = new CanReceiveBuffer(8);
        // Only a driver that echoes on transmission (IFF_ECHO) behaves like this; without it the
        // CAN core echoes a frame as soon as the queue accepts it.
        const int IFF_ECHO = 1 << 18;
        int flags = Convert.ToInt32(File.ReadAllText($"/sys/class/net/{Interface}/flags").Trim(), 16);
        Assert.True((flags & IFF_ECHO) != 0, $"{Interface} must echo (vcan loaded with echo=1, as tests/uml/uml-run.sh does)");
        Plug(limitBytes: 1600);

        for (uint id = 0x10; id < 0x13; id++) Assert.Equal(0, sender.Send(Vcan.Classic(id)));

        // Accepted, not transmitted: neither the confirmation nor the frame exists yet.
        Assert.False(Vcan.Readable(sender, 300), "confirmation before transmission");
        Assert.False(Vcan.Readable(receiver, 0), "frame on the bus before transmission");

        Release();
        Assert.Equal([(0x10u, true), (0x11u, true), (0x12u, true)], Vcan.Collect(sender, buffer, 3));
        Assert.Equal([(0x10u, false), (0x11u, false), (0x12u, false)], Vcan.Collect(receiver, buffer, 3));
    }

    [Fact]
    public void A_full_queue_gives_enobufs_and_the_same_frame_goes_out_when_retried()
    {
        using var sender = Vcan.Open(Interface);
        using var receiver = Vcan.Open(Interface);
        using var buffer = new CanReceiveBuffer(8);
        Plug(limitBytes: 3 * Libc.CAN_MTU);

        for (uint id = 0x20; id < 0x23; id++) Assert.Equal(0, sender.Send(Vcan.Classic(id)));
        var held = Vcan.Classic(0x23, 0xAA);
        Assert.Equal(Errno.ENOBUFS, sender.Send(held));

        Release();
        Assert.Equal(0, sender.Send(held));
        Assert.Equal([(0x20u, false), (0x21u, false), (0x22u, false), (0x23u, false)], Vcan.Collect(receiver, buffer, 4));
    }

    [Fact]
    public unsafe void A_full_send_buffer_gives_eagain_until_epollout()
    {
        using var sender = Vcan.Open(Interface);
        // The smallest send buffer the kernel allows: a few queued frames fill it.
        int size = 1;
        Assert.Equal(0, Libc.setsockopt(sender.Fd, Libc.SOL_SOCKET, Libc.SO_SNDBUF, &size, sizeof(int)));
        Plug(limitBytes: 1 << 20);
        using var epoll = new Epoll();
        epoll.Add(sender.Fd, token: 1, Libc.EPOLLOUT);
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];

        int accepted = 0, result;
        while ((result = sender.Send(Vcan.Classic(0x30))) == 0 && accepted < 10_000) accepted++;

        Assert.Equal(Errno.EAGAIN, result);
        Assert.InRange(accepted, 1, 1000);
        Assert.Equal(0, epoll.Wait(events, timeoutMs: 100));

        Release();
        Assert.Equal(1, epoll.Wait(events, timeoutMs: 5000));
        Assert.True((events[0].Events & Libc.EPOLLOUT) != 0);
        Assert.Equal(0, sender.Send(Vcan.Classic(0x31)));
    }
}
