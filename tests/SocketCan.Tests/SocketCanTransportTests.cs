using System.Runtime.InteropServices;
using VhostDeviceCan.Can;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.SocketCan.Tests;

/// <summary>
/// <see cref="SocketCanTransport"/> against the kernel's CAN stack: what the device relies on
/// (FD from the MTU, confirmations instead of own frames, bus state from error frames and the
/// link, recovery when the interface is recreated, back-pressure) checked on vcan0/vcan1.
/// </summary>
[Trait("Category", "RealCan")]
public sealed class SocketCanTransportTests : IDisposable
{
    private readonly CanFrame[] _frames = new CanFrame[64];

    public void Dispose()
    {
        // Whatever a test did to vcan1, the next one finds it as uml-run.sh made it.
        Vcan.TryRun("tc", "qdisc", "del", "dev", "vcan1", "root");
        if (Vcan.TryRun("ip", "link", "show", "vcan1") != 0) Vcan.TryRun("ip", "link", "add", "vcan1", "type", "vcan");
        Vcan.TryRun("ip", "link", "set", "vcan1", "down");
        Vcan.TryRun("ip", "link", "set", "vcan1", "mtu", "72");
        Vcan.TryRun("ip", "link", "set", "vcan1", "up");
    }

    private static SocketCanTransport Open(string name = "vcan0")
    {
        Vcan.RequireAfCan();
        return SocketCanTransport.Open(name);
    }

    /// <summary>Waits for the poll fd, then receives; repeats until <paramref name="until"/> holds. Fails on timeout.</summary>
    private (List<CanFrame> Frames, int Confirmations) ReceiveUntil(SocketCanTransport transport, Func<List<CanFrame>, int, bool> until, int timeoutMs = 5000)
    {
        var frames = new List<CanFrame>();
        int confirmations = 0;
        long deadline = Environment.TickCount64 + timeoutMs;
        while (!until(frames, confirmations))
        {
            int left = (int)(deadline - Environment.TickCount64);
            if (left <= 0) Assert.Fail($"timed out: {frames.Count} frames, {confirmations} confirmations, bus {transport.BusState}");
            Wait(transport.PollFd, left);
            int count = transport.Receive(_frames, out int confirmed);
            confirmations += confirmed;
            frames.AddRange(_frames.AsSpan(0, count).ToArray());
        }
        return (frames, confirmations);
    }

    private static bool Wait(int fd, int timeoutMs)
    {
        using var epoll = new Epoll();
        epoll.Add(fd, token: 1, Libc.EPOLLIN);
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];
        return epoll.Wait(events, timeoutMs) > 0;
    }

    private static bool WaitWritable(int fd, int timeoutMs)
    {
        // The write poll fd is an epoll instance: it reads as ready (EPOLLIN) when the socket inside is writable.
        return Wait(fd, timeoutMs);
    }

    private static CanFrame FromWire(byte[] wire)
    {
        var frame = default(CanFrame);
        wire.CopyTo(MemoryMarshal.AsBytes(new Span<CanFrame>(ref frame)));
        return frame;
    }

    private static byte[] Wire(in CanFrame frame) => frame.WireBytes.ToArray();

    [Fact]
    public void Fd_is_carried_exactly_when_the_mtu_is_canfd_mtu()
    {
        using (var fd = Open("vcan0"))
        {
            Assert.True(fd.SupportsFd);
            Assert.Equal("vcan0", fd.Name);
            Assert.Equal(TxConfirmation.Deferred, fd.Confirmation);
            Assert.Equal(CanBusState.Active, fd.BusState);
        }

        Vcan.SetLink("vcan1", "down");
        Vcan.Run("ip", "link", "set", "vcan1", "mtu", "16");
        Vcan.SetLink("vcan1", "up");
        using var classic = Open("vcan1");
        using var peer = Vcan.Open("vcan1");
        using var buffer = new CanReceiveBuffer(4);

        Assert.False(classic.SupportsFd);
        Assert.Equal(TransmitStatus.Rejected, classic.Transmit(CanFrame.Fd(0x100, false, [1, 2, 3])));
        Assert.Equal(TransmitStatus.Sent, classic.Transmit(CanFrame.Classic(0x101, false, [1, 2, 3])));
        var (wire, _) = Vcan.ReceiveOne(peer, buffer);
        Assert.Equal(Vcan.Classic(0x101, 1, 2, 3), wire);
    }

    public static TheoryData<string, CanFrame> Kinds => new()
    {
        { "classic", CanFrame.Classic(0x123, false, [0xDE, 0xAD, 0xBE, 0xEF]) },
        { "classic empty", CanFrame.Classic(0x7FF, false, []) },
        { "extended", CanFrame.Classic(0x1ABCDE01, true, [1, 2, 3, 4, 5, 6, 7, 8]) },
        { "remote", CanFrame.Remote(0x2A0, false, 4) },
        { "remote extended", CanFrame.Remote(0x1000, true, 8) },
        { "fd 64 brs", CanFrame.Fd(0x321, false, Enumerable.Range(0, 64).Select(i => (byte)i).ToArray(), CanFrame.CANFD_BRS) },
        { "fd extended 12", CanFrame.Fd(0x18DAF110, true, Enumerable.Range(100, 12).Select(i => (byte)i).ToArray()) },
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void A_transmitted_frame_reaches_the_bus_and_comes_back_only_as_a_confirmation(string kind, CanFrame frame)
    {
        using var transport = Open();
        using var peer = Vcan.Open();
        using var buffer = new CanReceiveBuffer(4);

        Assert.Equal(TransmitStatus.Sent, transport.Transmit(frame));

        var (wire, _) = Vcan.ReceiveOne(peer, buffer);
        Assert.True(Wire(frame).AsSpan().SequenceEqual(wire), $"{kind}: sent {Convert.ToHexString(Wire(frame))}, bus carried {Convert.ToHexString(wire)}");
        var (frames, confirmations) = ReceiveUntil(transport, (_, c) => c >= 1);
        Assert.Empty(frames);
        Assert.Equal(1, confirmations);
        // Exactly one: nothing else is pending afterwards.
        Assert.False(Wait(transport.PollFd, 100) && transport.Receive(_frames, out int more) + more > 0);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void A_frame_from_another_socket_is_returned_unchanged(string kind, CanFrame frame)
    {
        using var transport = Open();
        using var peer = Vcan.Open();

        Vcan.SendOk(peer, Wire(frame));

        var (frames, confirmations) = ReceiveUntil(transport, (f, _) => f.Count >= 1);
        Assert.Equal(0, confirmations);
        Assert.Single(frames);
        Assert.True(frame == frames[0], $"{kind}: peer sent {Convert.ToHexString(Wire(frame))}, transport returned {Convert.ToHexString(Wire(frames[0]))}");
    }

    [Fact]
    public void Confirmations_and_foreign_frames_interleave_and_a_full_span_keeps_the_rest()
    {
        using var transport = Open();
        using var peer = Vcan.Open();
        var small = new CanFrame[3];

        for (uint i = 0; i < 10; i++)
        {
            Assert.Equal(TransmitStatus.Sent, transport.Transmit(CanFrame.Classic(0x400 + i, false, [(byte)i])));
            Vcan.SendOk(peer, Vcan.Classic(0x500 + i, (byte)i));
        }

        var ids = new List<uint>();
        int confirmations = 0;
        long deadline = Environment.TickCount64 + 5000;
        while ((ids.Count < 10 || confirmations < 10) && Environment.TickCount64 < deadline)
        {
            // Leftovers of a batch must keep the poll fd readable: wait on it, never skip it.
            Assert.True(Wait(transport.PollFd, 5000), $"poll fd not readable with {ids.Count} frames and {confirmations} confirmations taken");
            int count = transport.Receive(small, out int confirmed);
            Assert.InRange(count, 0, small.Length);
            confirmations += confirmed;
            for (int i = 0; i < count; i++) ids.Add(small[i].CanId);
        }
        Assert.Equal(Enumerable.Range(0x500, 10).Select(i => (uint)i), ids);
        Assert.Equal(10, confirmations);
        // Drained: the poll fd goes quiet, so a level-triggered device does not spin.
        Assert.False(Wait(transport.PollFd, 100), "poll fd still readable with nothing pending");
    }

    [Fact]
    public void A_burst_arriving_while_nobody_reads_is_kept_whole()
    {
        using var transport = Open();
        using var peer = Vcan.Open();
        const int Burst = 3000;

        // The event loop may be busy elsewhere while the bus delivers; CAN cannot slow the
        // sender down, so the socket's receive buffer is all that holds the burst. The kernel's
        // default one keeps about 250 frames and silently drops the rest.
        for (int i = 0; i < Burst; i++)
            Vcan.SendOk(peer, Vcan.Classic(0x600, (byte)i, (byte)(i >> 8)));

        var (frames, _) = ReceiveUntil(transport, (f, _) => f.Count >= Burst || !Wait(transport.PollFd, 200));
        Assert.Equal(Burst, frames.Count);
        Assert.Equal(Enumerable.Range(0, Burst), frames.Select(f => f.Data[0] | f.Data[1] << 8));
    }

    [Fact]
    public void Bus_off_and_restart_error_frames_drive_the_bus_state_and_are_not_returned()
    {
        using var transport = Open();
        using var injector = Vcan.Open();

        Vcan.SendOk(injector, Vcan.Classic(Libc.CAN_ERR_FLAG | Libc.CAN_ERR_BUSOFF, 0, 0, 0, 0, 0, 0, 0, 0));
        var (frames, _) = ReceiveUntil(transport, (_, _) => transport.BusState == CanBusState.BusOff);
        Assert.Empty(frames);

        Vcan.SendOk(injector, Vcan.Classic(Libc.CAN_ERR_FLAG | Libc.CAN_ERR_RESTARTED, 0, 0, 0, 0, 0, 0, 0, 0));
        (frames, _) = ReceiveUntil(transport, (_, _) => transport.BusState == CanBusState.Active);
        Assert.Empty(frames);
        Assert.Equal(TransmitStatus.Sent, transport.Transmit(CanFrame.Classic(0x1, false, [])));
    }

    [Fact]
    public void Link_down_is_seen_as_down_and_link_up_as_active_again()
    {
        using var transport = Open("vcan1");

        Vcan.SetLink("vcan1", "down");
        // The kernel reports it as a socket error, which wakes the poll fd without any sending.
        ReceiveUntil(transport, (_, _) => transport.BusState == CanBusState.Down);
        Assert.Equal(TransmitStatus.Down, transport.Transmit(CanFrame.Classic(0x10, false, [1])));
        Assert.Equal(CanBusState.Down, transport.BusState);

        Vcan.SetLink("vcan1", "up");
        // No event announces it; reading the state while down checks the link.
        Assert.Equal(CanBusState.Active, transport.BusState);
        // Opened after the link came back: a socket open across the down gets ENETDOWN once.
        using var peer = Vcan.Open("vcan1");
        using var buffer = new CanReceiveBuffer(4);
        Assert.Equal(TransmitStatus.Sent, transport.Transmit(CanFrame.Classic(0x11, false, [2])));
        Assert.Equal(0x11u, Vcan.CanIdOf(Vcan.ReceiveOne(peer, buffer).Frame));
        Vcan.SendOk(peer, Vcan.Classic(0x12, 3));
        var (frames, confirmations) = ReceiveUntil(transport, (f, c) => f.Count >= 1 && c >= 1);
        Assert.Equal(0x12u, frames.Single().CanId);
        Assert.Equal(1, confirmations);
    }

    [Fact]
    public void A_deleted_and_recreated_interface_is_reopened()
    {
        using var transport = Open("vcan1");
        using var vcan0Peer = Vcan.Open("vcan0");

        Vcan.Run("ip", "link", "del", "vcan1");
        ReceiveUntil(transport, (_, _) => transport.BusState == CanBusState.Down);
        Assert.Equal(TransmitStatus.Down, transport.Transmit(CanFrame.Classic(0x20, false, [1])));

        // While vcan1 is gone, traffic on other interfaces must not reach this transport (the
        // kernel unbinds a socket whose interface vanished, and an unbound raw socket hears
        // every interface), nor make it look alive.
        Vcan.SendOk(vcan0Peer, Vcan.Classic(0x21, 0xAA));
        Wait(transport.PollFd, 200);
        Assert.Equal(0, transport.Receive(_frames, out int confirmed));
        Assert.Equal(0, confirmed);
        Assert.Equal(CanBusState.Down, transport.BusState);

        Vcan.Run("ip", "link", "add", "vcan1", "type", "vcan");
        Assert.Equal(CanBusState.Down, transport.BusState); // created, not yet up
        Vcan.SetLink("vcan1", "up");
        Assert.Equal(CanBusState.Active, transport.BusState);

        using var peer = Vcan.Open("vcan1");
        using var buffer = new CanReceiveBuffer(4);
        Assert.Equal(TransmitStatus.Sent, transport.Transmit(CanFrame.Classic(0x22, false, [2])));
        Assert.Equal(0x22u, Vcan.CanIdOf(Vcan.ReceiveOne(peer, buffer).Frame));
        Vcan.SendOk(peer, Vcan.Classic(0x23, 3));
        // Only vcan1's own traffic: nothing from vcan0 was kept from the gap.
        Vcan.SendOk(vcan0Peer, Vcan.Classic(0x24, 4));
        var (frames, confirmations) = ReceiveUntil(transport, (f, c) => f.Count >= 1 && c >= 1);
        Assert.Equal([0x23u], frames.Select(f => f.CanId));
        Assert.Equal(1, confirmations);
    }

    [Fact]
    public void An_interface_recreated_without_fd_gets_fd_frames_rejected_not_a_crash()
    {
        using var transport = Open("vcan1");
        Assert.True(transport.SupportsFd);

        Vcan.Run("ip", "link", "del", "vcan1");
        ReceiveUntil(transport, (_, _) => transport.BusState == CanBusState.Down);
        Vcan.Run("ip", "link", "add", "vcan1", "type", "vcan");
        Vcan.Run("ip", "link", "set", "vcan1", "mtu", "16");
        Vcan.SetLink("vcan1", "up");
        Assert.Equal(CanBusState.Active, transport.BusState);

        // The device negotiated FD with the guest when vcan1 carried it; the new vcan1 does not.
        Assert.Equal(TransmitStatus.Rejected, transport.Transmit(CanFrame.Fd(0x40, false, [1, 2, 3])));
        using var peer = Vcan.Open("vcan1");
        using var buffer = new CanReceiveBuffer(4);
        Assert.Equal(TransmitStatus.Sent, transport.Transmit(CanFrame.Classic(0x41, false, [4])));
        Assert.Equal(Vcan.Classic(0x41, 4), Vcan.ReceiveOne(peer, buffer).Frame);
    }

    /// <summary>Receives until <paramref name="expected"/> outcomes arrived; returns them in report order.</summary>
    private List<TxOutcome> ReceiveOutcomes(SocketCanTransport transport, int expected, int timeoutMs = 5000)
    {
        var outcomes = new List<TxOutcome>();
        Span<TxOutcome> batch = stackalloc TxOutcome[8];
        long deadline = Environment.TickCount64 + timeoutMs;
        while (outcomes.Count < expected)
        {
            int left = (int)(deadline - Environment.TickCount64);
            if (left <= 0) Assert.Fail($"timed out with outcomes [{string.Join(", ", outcomes)}]");
            Wait(transport.PollFd, left);
            Assert.Equal(0, transport.Receive(_frames, batch, out int count));
            outcomes.AddRange(batch[..count].ToArray());
        }
        return outcomes;
    }

    private static TxOutcome Confirmed(uint tag) => new(new TxTag(tag), true);

    [Fact]
    public void An_echo_confirms_its_own_frame_and_no_later_one()
    {
        using var transport = Open("vcan1");
        using var peer = Vcan.Open("vcan1");
        using var buffer = new CanReceiveBuffer(4);
        // A plug qdisc holds frames; "block" puts a mark after those queued so far, and
        // "release" lets out only what is before the first mark.
        Vcan.Run("tc", "qdisc", "replace", "dev", "vcan1", "root", "plug", "limit", "1600");

        // The device may have answered the first request already (STOP, bus-off): whenever its
        // frame still goes out, the echo names that request, never the one sent after it.
        Assert.Equal(TransmitStatus.Sent, transport.Transmit(CanFrame.Classic(0x70, false, [0]), new TxTag(1)));
        Vcan.Run("tc", "qdisc", "change", "dev", "vcan1", "root", "plug", "block");
        Assert.Equal(TransmitStatus.Sent, transport.Transmit(CanFrame.Classic(0x71, false, [1]), new TxTag(2)));
        Vcan.Run("tc", "qdisc", "change", "dev", "vcan1", "root", "plug", "release");

        Assert.Equal(0x70u, Vcan.CanIdOf(Vcan.ReceiveOne(peer, buffer).Frame));
        Assert.Equal([Confirmed(1)], ReceiveOutcomes(transport, 1));
        // 0x71 is still queued: nothing more is reported for it yet.
        Wait(transport.PollFd, 300);
        Span<TxOutcome> none = stackalloc TxOutcome[4];
        Assert.Equal(0, transport.Receive(_frames, none, out int early));
        Assert.True(early == 0, $"{none[0]} reported while 0x71 is still queued");

        Vcan.Run("tc", "qdisc", "change", "dev", "vcan1", "root", "plug", "release_indefinite");
        Assert.Equal(0x71u, Vcan.CanIdOf(Vcan.ReceiveOne(peer, buffer).Frame));
        Assert.Equal([Confirmed(2)], ReceiveOutcomes(transport, 1));
    }

    [Fact]
    public void A_frame_dropped_from_the_queue_is_reported_failed_and_the_next_confirmed()
    {
        using var transport = Open("vcan1");
        using var peer = Vcan.Open("vcan1");
        using var buffer = new CanReceiveBuffer(4);
        Vcan.Run("tc", "qdisc", "replace", "dev", "vcan1", "root", "plug", "limit", "1600");
        Assert.Equal(TransmitStatus.Sent, transport.Transmit(CanFrame.Classic(0x72, false, [2]), new TxTag(1)));
        // Deleting the qdisc drops the held frame: it is never echoed.
        Vcan.Run("tc", "qdisc", "del", "dev", "vcan1", "root");

        Assert.Equal(TransmitStatus.Sent, transport.Transmit(CanFrame.Classic(0x73, false, [3]), new TxTag(2)));

        Assert.Equal(0x73u, Vcan.CanIdOf(Vcan.ReceiveOne(peer, buffer).Frame));
        Assert.Equal([new TxOutcome(new TxTag(1), false), Confirmed(2)], ReceiveOutcomes(transport, 2));
    }

    [Fact]
    public void Frames_sent_before_the_link_went_down_are_reported_failed()
    {
        using var transport = Open("vcan1");
        Vcan.Run("tc", "qdisc", "replace", "dev", "vcan1", "root", "plug", "limit", "1600");
        Assert.Equal(TransmitStatus.Sent, transport.Transmit(CanFrame.Classic(0x74, false, [4]), new TxTag(1)));
        Assert.Equal(TransmitStatus.Sent, transport.Transmit(CanFrame.Classic(0x75, false, [5]), new TxTag(2)));
        // Taking the interface down empties its queue: neither frame will be echoed.
        Vcan.SetLink("vcan1", "down");

        var outcomes = ReceiveOutcomes(transport, 2);
        Assert.Equal([new TxOutcome(new TxTag(1), false), new TxOutcome(new TxTag(2), false)], outcomes);
        Assert.Equal(CanBusState.Down, transport.BusState);
    }

    [Fact]
    public void A_full_queue_gives_would_block_and_the_write_fd_waits_for_room()
    {
        using var transport = Open("vcan1");
        using var peer = Vcan.Open("vcan1");
        // Three classic frames fill it; the fourth is refused with ENOBUFS, as from a full
        // controller queue.
        Vcan.Run("tc", "qdisc", "replace", "dev", "vcan1", "root", "plug", "limit", (3 * Libc.CAN_MTU).ToString());

        for (uint i = 0; i < 3; i++) Assert.Equal(TransmitStatus.Sent, transport.Transmit(CanFrame.Classic(0x30 + i, false, [])));
        var held = CanFrame.Classic(0x33, false, [0x33]);
        Assert.Equal(TransmitStatus.WouldBlock, transport.Transmit(held));

        // A device waits on the write fd and retries when it fires. It must not fire over and
        // over while nothing has changed: that would be a busy loop for as long as the queue is
        // full. A few timed retries are acceptable, a spin is not.
        int wakeups = 0;
        long until = Environment.TickCount64 + 300;
        while (Environment.TickCount64 < until)
        {
            if (!WaitWritable(transport.WritePollFd, (int)Math.Max(1, until - Environment.TickCount64))) continue;
            wakeups++;
            Assert.Equal(TransmitStatus.WouldBlock, transport.Transmit(held));
        }
        Assert.True(wakeups <= 300, $"the write fd fired {wakeups} times in 300 ms while the queue stayed full");

        Vcan.Run("tc", "qdisc", "change", "dev", "vcan1", "root", "plug", "release_indefinite");
        Assert.True(WaitWritable(transport.WritePollFd, 5000), "write fd never became ready after the queue drained");
        TransmitStatus status;
        long deadline = Environment.TickCount64 + 5000;
        while ((status = transport.Transmit(held)) == TransmitStatus.WouldBlock && Environment.TickCount64 < deadline)
            WaitWritable(transport.WritePollFd, 100);
        Assert.Equal(TransmitStatus.Sent, status);
        var ids = Vcan.Collect(peer, new CanReceiveBuffer(8), 4).Select(f => f.Id);
        Assert.Equal([0x30u, 0x31u, 0x32u, 0x33u], ids);
        var (_, confirmations) = ReceiveUntil(transport, (_, c) => c >= 4);
        Assert.Equal(4, confirmations);
    }
}
