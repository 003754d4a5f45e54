using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Can.Tests;

public class VirtualCanBusTests
{
    private static VirtualCanBus NewBus() => new("test-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public void A_frame_reaches_every_other_member_in_order_never_the_sender()
    {
        var bus = NewBus();
        using var a = bus.Join();
        using var b = bus.Join();
        using var c = bus.Join();
        Assert.Equal(3, bus.MemberCount);

        for (uint i = 0; i < 10; i++) Assert.Equal(TransmitStatus.Sent, a.Transmit(CanFrame.Classic(i, false, [(byte)i])));

        Assert.True(IsReadable(b.PollFd));
        Assert.True(IsReadable(c.PollFd));
        Assert.False(IsReadable(a.PollFd));
        foreach (var member in new[] { b, c })
        {
            var frames = new CanFrame[16];
            Assert.Equal(10, member.Receive(frames, out int confirmed));
            Assert.Equal(0, confirmed);
            for (int i = 0; i < 10; i++) Assert.Equal($"{i:X3}#{i:X2}", frames[i].ToString());
            Assert.False(IsReadable(member.PollFd));
        }
        Assert.Equal(0, a.Receive(new CanFrame[16], out _));
    }

    [Fact]
    public void Injected_bus_off_wakes_the_member_silences_it_and_lasts_until_restart()
    {
        var bus = NewBus();
        using var a = bus.Join();
        using var b = bus.Join();
        Assert.Equal(CanBusState.Active, b.BusState);

        b.InjectBusOff();
        // The owner learns of it through its poll fd, like of a frame, and on its next Receive.
        Assert.True(IsReadable(b.PollFd));
        a.Transmit(CanFrame.Classic(0x100, false, [1]));
        Assert.Equal(0, b.Receive(new CanFrame[16], out _));
        Assert.Equal(CanBusState.BusOff, b.BusState);
        Assert.False(IsReadable(b.PollFd));

        // Off the bus: nothing goes out, nothing comes in, and nothing is kept for later.
        Assert.Equal(TransmitStatus.Down, b.Transmit(CanFrame.Classic(0x200, false, [2])));
        Assert.Equal(0, b.TransmitBatch([CanFrame.Classic(0x201, false, [])], out TransmitStatus status));
        Assert.Equal(TransmitStatus.Down, status);
        Assert.Equal(0, a.Receive(new CanFrame[16], out _));
        a.Transmit(CanFrame.Classic(0x101, false, [1]));
        Assert.Equal(0, b.Receive(new CanFrame[16], out _));
        Assert.Equal(CanBusState.BusOff, b.BusState);
        Assert.Equal(CanBusState.Active, a.BusState);

        b.Restart();
        Assert.Equal(CanBusState.Active, b.BusState);
        a.Transmit(CanFrame.Classic(0x102, false, [3]));
        var frames = new CanFrame[16];
        Assert.Equal(1, b.Receive(frames, out _));
        Assert.Equal("102#03", frames[0].ToString());
        Assert.Equal(TransmitStatus.Sent, b.Transmit(CanFrame.Classic(0x202, false, [])));
        Assert.Equal(1, a.Receive(frames, out _));
    }

    [Fact]
    public void Frames_a_bus_off_member_does_not_hear_are_counted_as_lost_for_it_alone()
    {
        var bus = NewBus();
        using var a = bus.Join();
        using var b = bus.Join();
        using var c = bus.Join();
        var frames = new CanFrame[16];

        b.InjectBusOff();
        // Sent after the fault, before b's owner has looked: b is already off the bus.
        Assert.Equal(5, a.TransmitBatch([.. Enumerable.Range(0, 5).Select(i => CanFrame.Classic(0x100, false, [(byte)i]))], out _));
        Assert.Equal(0, b.Receive(frames, out _));
        Assert.Equal(CanBusState.BusOff, b.BusState);
        Assert.Equal(5, b.DroppedWhileBusOff);

        for (int i = 0; i < 3; i++) a.Transmit(CanFrame.Classic(0x101, false, [(byte)i]));
        Assert.True(IsReadable(b.PollFd));
        Assert.Equal(0, b.Receive(frames, out _));
        Assert.Equal(8, b.DroppedWhileBusOff);
        Assert.Contains("dropped while bus-off 8", b.ToString(), StringComparison.Ordinal);

        // Nobody else lost anything, and an inbox that never overflowed counts nothing there.
        Assert.Equal(8, c.Receive(frames, out _));
        Assert.Equal(0, c.DroppedWhileBusOff);
        Assert.Equal(0, a.DroppedWhileBusOff);
        Assert.Equal(0, b.Dropped);

        // Back on the bus, frames arrive again and the count stays where it was.
        b.Restart();
        a.Transmit(CanFrame.Classic(0x102, false, [9]));
        Assert.Equal(1, b.Receive(frames, out _));
        Assert.Equal(8, b.DroppedWhileBusOff);
    }

    [Fact]
    public void Fd_frames_cross_intact()
    {
        var bus = NewBus();
        using var a = bus.Join();
        using var b = bus.Join();
        byte[] payload = Enumerable.Range(0, 64).Select(i => (byte)i).ToArray();
        var sent = CanFrame.Fd(0x1ABCDEF, true, payload, CanFrame.CANFD_BRS);

        Assert.True(a.SupportsFd);
        a.Transmit(sent);
        var received = new CanFrame[1];
        Assert.Equal(1, b.Receive(received, out _));
        Assert.Equal(sent, received[0]);
        Assert.True(received[0].IsFd);
        Assert.Equal(64, received[0].Length);
    }

    [Fact]
    public unsafe void A_batch_writes_the_eventfd_once_and_a_busy_receiver_is_not_woken_twice()
    {
        var bus = NewBus();
        using var sender = bus.Join();
        using var receiver = bus.Join();
        var batch = Enumerable.Range(0, 10).Select(i => CanFrame.Classic((uint)i, false, [])).ToArray();

        Assert.Equal(10, sender.TransmitBatch(batch, out var status));
        Assert.Equal(TransmitStatus.Sent, status);
        sender.TransmitBatch(batch, out _);

        ulong counter = 0;
        Assert.Equal(8, (int)Libc.read(receiver.PollFd, &counter, sizeof(ulong)));
        Assert.Equal(1UL, counter);
        Assert.Equal(20, receiver.Receive(new CanFrame[32], out _));

        sender.Transmit(batch[0]);
        Assert.True(IsReadable(receiver.PollFd));
    }

    [Fact]
    public void Poll_fd_stays_readable_while_frames_remain_after_a_short_receive()
    {
        var bus = NewBus();
        using var a = bus.Join();
        using var b = bus.Join();
        for (uint i = 0; i < 5; i++) a.Transmit(CanFrame.Classic(i, false, []));

        var two = new CanFrame[2];
        Assert.Equal(2, b.Receive(two, out _));
        Assert.True(IsReadable(b.PollFd));
        Assert.Equal(2, b.Receive(two, out _));
        Assert.True(IsReadable(b.PollFd));
        Assert.Equal(1, b.Receive(two, out _));
        Assert.Equal(4u, two[0].Id);
        Assert.False(IsReadable(b.PollFd));
    }

    [Fact]
    public void A_member_leaving_mid_traffic_disturbs_no_one()
    {
        const int Count = 50_000;
        var bus = NewBus();
        using var sender = bus.Join();
        using var stayer = bus.Join(inboxCapacity: 1 << 16);
        var leaver = bus.Join(inboxCapacity: 64);

        var traffic = new Thread(() =>
        {
            // The leaver takes nothing: the sender waits for it (back-pressure) until it leaves.
            var frames = Enumerable.Range(0, Count).Select(i => CanFrame.Classic(0x100, false, BitConverter.GetBytes(i))).ToArray();
            sender.SendAll(frames, TimeSpan.FromSeconds(10));
        }) { IsBackground = true };
        traffic.Start();
        while (stayer.PendingCount < Count / 10) Thread.Yield();
        leaver.Dispose();
        Assert.True(traffic.Join(TimeSpan.FromSeconds(30)));

        Assert.Equal(2, bus.MemberCount);
        Assert.Equal(CanBusState.Down, leaver.BusState);
        Assert.Equal(TransmitStatus.Down, leaver.Transmit(CanFrame.Classic(1, false, [])));
        Assert.Equal(0, leaver.Receive(new CanFrame[4], out _));

        var frames = new CanFrame[Count];
        Assert.Equal(Count, stayer.Receive(frames, out _));
        for (int i = 0; i < Count; i++) Assert.Equal(i, BitConverter.ToInt32(frames[i].Data));
        Assert.Equal(0, stayer.Dropped);
        leaver.Dispose();
    }

    [Fact]
    public void A_member_joining_hears_frames_sent_after_it_joined()
    {
        var bus = NewBus();
        using var a = bus.Join();
        a.Transmit(CanFrame.Classic(1, false, []));
        using var late = bus.Join();
        a.Transmit(CanFrame.Classic(2, false, []));
        var frames = new CanFrame[4];
        Assert.Equal(1, late.Receive(frames, out _));
        Assert.Equal(2u, frames[0].Id);
    }

    [Fact]
    public void The_registry_returns_one_bus_per_name()
    {
        string name = "registry-" + Guid.NewGuid().ToString("N");
        var bus = VirtualCanBus.Get(name);
        Assert.Same(bus, VirtualCanBus.Get(name));
        Assert.NotSame(bus, VirtualCanBus.Get(name + "x"));
        using var member = bus.Join();
        Assert.Equal("vbus:" + name, member.Name);
        Assert.Equal(TxConfirmation.AtTransmit, member.Confirmation);
        // A timer the bus arms when the member must wait for room (see VirtualCanBusBackPressureTests).
        Assert.True(member.WritePollFd >= 0);
        Assert.NotEqual(member.PollFd, member.WritePollFd);
        Assert.Equal(CanBusState.Active, member.BusState);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(1000)]
    public void Inbox_capacity_must_be_a_power_of_two(int capacity)
    {
        var bus = NewBus();
        Assert.Throws<ArgumentOutOfRangeException>(() => bus.Join(capacity));
        Assert.Equal(0, bus.MemberCount);
    }

    [Fact]
    public void Steady_state_transmit_and_receive_allocate_nothing()
    {
        var bus = NewBus();
        using var a = bus.Join();
        using var b = bus.Join();
        using var c = bus.Join();
        var frame = CanFrame.Fd(0x123, false, new byte[64]);
        Span<CanFrame> batch = stackalloc CanFrame[8];
        batch.Fill(frame);
        Span<CanFrame> received = stackalloc CanFrame[16];

        RunLoop(a, b, c, in frame, batch, received, 2_000);
        long before = GC.GetAllocatedBytesForCurrentThread();
        RunLoop(a, b, c, in frame, batch, received, 10_000);
        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(before, after);

        static void RunLoop(VirtualCanBusMember a, VirtualCanBusMember b, VirtualCanBusMember c, in CanFrame frame,
            ReadOnlySpan<CanFrame> batch, Span<CanFrame> received, int rounds)
        {
            ICanTransport transport = a;
            for (int i = 0; i < rounds; i++)
            {
                a.Transmit(in frame);
                transport.TransmitBatch(batch, out _);
                if (b.Receive(received, out _) != 9) throw new InvalidOperationException("b lost frames");
                if (c.Receive(received, out _) != 9) throw new InvalidOperationException("c lost frames");
            }
        }
    }

    private static bool IsReadable(int fd)
    {
        using var epoll = new Epoll();
        epoll.Add(fd, token: 1);
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];
        return epoll.Wait(events, timeoutMs: 0) == 1;
    }
}
