using VhostDeviceCan.Interop;

namespace VhostDeviceCan.SocketCan.Tests;

[Trait("Category", "RealCan")]
public class CanSocketTests
{
    [Fact]
    public void Vcan0_has_the_fd_mtu_so_fd_frames_are_on()
    {
        using var socket = Vcan.Open("vcan0");

        Assert.Equal(Libc.CANFD_MTU, socket.Mtu);
        Assert.True(socket.FdFrames);
        Assert.Equal(1, FdFramesOption(socket));
        Assert.True(socket.InterfaceIndex > 0);
        Assert.Equal("vcan0", socket.InterfaceName);
        Assert.True(socket.Descriptor.IsCloseOnExec);
        Assert.True((Libc.fcntl(socket.Fd, Libc.F_GETFL, 0) & Libc.O_NONBLOCK) != 0, "socket must be non-blocking");
    }

    [Fact]
    public void A_vcan_with_the_classic_mtu_gets_no_fd_frames_whatever_its_name()
    {
        Vcan.RequireAfCan();
        // vcan only changes its MTU while down.
        Vcan.SetLink("vcan1", "down");
        try
        {
            Vcan.Run("ip", "link", "set", "vcan1", "mtu", "16");
            Vcan.SetLink("vcan1", "up");
            using var socket = Vcan.Open("vcan1");

            Assert.Equal(Libc.CAN_MTU, socket.Mtu);
            Assert.False(socket.FdFrames);
            Assert.Equal(0, FdFramesOption(socket));
            Assert.Throws<ArgumentException>(() => socket.Send(Vcan.Fd(0x100, 0, 1, 2, 3)));
            Assert.Equal(0, socket.Send(Vcan.Classic(0x100, 1, 2, 3)));
        }
        finally
        {
            Vcan.SetLink("vcan1", "down");
            Vcan.Run("ip", "link", "set", "vcan1", "mtu", "72");
            Vcan.SetLink("vcan1", "up");
        }
    }

    public static TheoryData<string, byte[]> FrameKinds => new()
    {
        { "classic standard", Vcan.Classic(0x123, 0xDE, 0xAD, 0xBE, 0xEF) },
        { "classic empty", Vcan.Classic(0x7FF) },
        { "classic extended", Vcan.Classic(0x1ABCDE01 | Libc.CAN_EFF_FLAG, 1, 2, 3, 4, 5, 6, 7, 8) },
        { "remote request", Vcan.Classic(0x2A0 | Libc.CAN_RTR_FLAG) },
        { "remote request extended", Vcan.Classic(0x1000 | Libc.CAN_EFF_FLAG | Libc.CAN_RTR_FLAG) },
        { "fd 64 bytes, bit rate switch", Vcan.Fd(0x321, Libc.CANFD_BRS, Enumerable.Range(0, 64).Select(i => (byte)i).ToArray()) },
        { "fd extended 12 bytes, esi", Vcan.Fd(0x18DAF110 | Libc.CAN_EFF_FLAG, Libc.CANFD_ESI, Enumerable.Range(100, 12).Select(i => (byte)i).ToArray()) },
    };

    [Theory]
    [MemberData(nameof(FrameKinds))]
    public void A_frame_sent_on_one_socket_arrives_unchanged_on_another(string kind, byte[] frame)
    {
        using var sender = Vcan.Open();
        using var receiver = Vcan.Open();
        using var buffer = new CanReceiveBuffer(4);

        Assert.Equal(0, sender.Send(frame));
        var (received, flags) = Vcan.ReceiveOne(receiver, buffer);

        Assert.Equal(frame.Length, received.Length);
        Assert.Equal(frame.Length == Libc.CANFD_MTU, buffer.IsFd(0));
        Assert.Equal(Vcan.CanIdOf(frame), buffer.CanId(0));
        if (frame.Length == Libc.CANFD_MTU)
        {
            // Linux 6.1 marks every CAN FD frame it sends with CANFD_FDF; the rest is untouched.
            Assert.Equal(frame[5] | Libc.CANFD_FDF, received[5]);
            received[5] = frame[5];
        }
        Assert.True(frame.AsSpan().SequenceEqual(received), $"{kind}: {Convert.ToHexString(frame)} became {Convert.ToHexString(received)}");
        Assert.True((flags & Libc.MSG_DONTROUTE) != 0, "a frame from a local socket is flagged MSG_DONTROUTE");
        Assert.True((flags & Libc.MSG_CONFIRM) == 0, "only the sender's own echo is a confirmation");
    }

    [Fact]
    public void With_recv_own_msgs_the_sender_gets_its_frame_back_as_a_confirmation()
    {
        using var confirming = Vcan.Open();
        confirming.ReceiveOwnMessages = true;
        using var silent = Vcan.Open();
        using var observer = Vcan.Open();
        using var buffer = new CanReceiveBuffer(8);

        Vcan.SendOk(confirming, Vcan.Classic(0x101, 1));
        var (echo, echoFlags) = Vcan.ReceiveOne(confirming, buffer);
        Assert.Equal(0x101u, Vcan.CanIdOf(echo));
        Assert.True((echoFlags & Libc.MSG_CONFIRM) != 0, "own frame must carry MSG_CONFIRM");
        Assert.True(buffer.IsConfirmation(0));

        // Without the option the sender sees nothing of its own frame: after the frame the
        // first socket sent before, the next thing it receives is the marker another socket sends
        // afterwards (frames reach a socket in the order they went over the interface).
        Vcan.SendOk(silent, Vcan.Classic(0x102, 2));
        Vcan.SendOk(observer, Vcan.Classic(0x7EE, 0xEE));
        Assert.Equal([(0x101u, false), (0x7EEu, false)], Vcan.Collect(silent, buffer, 2));

        // Everyone else gets the frames as ordinary (unconfirmed) local traffic.
        Assert.Equal([(0x101u, false), (0x102u, false)], Vcan.Collect(observer, buffer, 2));
    }

    [Fact]
    public void Without_loopback_no_local_socket_sees_the_frame_not_even_a_confirming_sender()
    {
        using var quiet = Vcan.Open();
        quiet.Loopback = false;
        quiet.ReceiveOwnMessages = true;
        using var observer = Vcan.Open();
        using var marker = Vcan.Open();
        using var buffer = new CanReceiveBuffer(8);

        Vcan.SendOk(quiet, Vcan.Classic(0x111, 1));
        Vcan.SendOk(marker, Vcan.Classic(0x7EE));

        Assert.Equal([(0x7EEu, false)], Vcan.Collect(observer, buffer, 1));
        Assert.Equal([(0x7EEu, false)], Vcan.Collect(quiet, buffer, 1));
    }

    [Fact]
    public void Confirmations_follow_send_order()
    {
        using var sender = Vcan.Open();
        sender.ReceiveOwnMessages = true;
        using var buffer = new CanReceiveBuffer(16);

        for (uint id = 0x200; id < 0x20A; id++) Vcan.SendOk(sender, Vcan.Classic(id, (byte)id));

        Assert.Equal(Enumerable.Range(0x200, 10).Select(i => ((uint)i, true)), Vcan.Collect(sender, buffer, 10));
    }

    [Fact]
    public void A_batch_larger_than_the_buffer_arrives_in_order_over_several_receives_without_allocating()
    {
        using var sender = Vcan.Open();
        using var receiver = Vcan.Open();
        using var buffer = new CanReceiveBuffer(8);
        using var epoll = new Epoll();
        epoll.Add(receiver.Fd, token: 1);
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];
        Span<uint> ids = stackalloc uint[40];
        byte[] classic = Vcan.Classic(0x300, 1);
        byte[] fd = Vcan.Fd(0x300, Libc.CANFD_BRS, new byte[20]);

        // Warm up so that one-time JIT and stub work is not counted.
        Vcan.SendOk(sender, classic);
        Vcan.ReceiveBatch(receiver, buffer);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < ids.Length; i++)
        {
            byte[] frame = i % 2 == 0 ? classic : fd;
            frame[0] = (byte)i;
            if (sender.Send(frame) != 0) Assert.Fail("send failed");
        }
        int received = 0, batches = 0, fdFrames = 0;
        long deadline = Environment.TickCount64 + 10_000;
        while (received < ids.Length && Environment.TickCount64 < deadline)
        {
            epoll.Wait(events, timeoutMs: 1000);
            if (receiver.Receive(buffer, out int count) != 0) Assert.Fail("receive failed");
            if (count == 0) continue;
            batches++;
            for (int i = 0; i < count; i++)
            {
                ids[received++] = buffer.CanId(i);
                if (buffer.IsFd(i)) fdFrames++;
            }
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(ids.Length, received);
        for (int i = 0; i < ids.Length; i++) Assert.Equal(0x300u | (uint)i, ids[i]);
        Assert.Equal(ids.Length / 2, fdFrames);
        Assert.True(batches >= ids.Length / buffer.Capacity, $"{batches} batches for {ids.Length} frames in an {buffer.Capacity}-slot buffer");
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void An_error_frame_reaches_only_sockets_whose_error_mask_selects_it()
    {
        using var busOffWatcher = Vcan.Open();
        busOffWatcher.ErrorMask = Libc.CAN_ERR_BUSOFF;
        using var ackWatcher = Vcan.Open();
        ackWatcher.ErrorMask = Libc.CAN_ERR_ACK;
        using var plain = Vcan.Open();
        using var injector = Vcan.Open();
        using var buffer = new CanReceiveBuffer(4);

        // vcan has no controller to report errors, but a raw socket may write a frame with
        // CAN_ERR_FLAG and the stack delivers it like one coming from a driver.
        var error = Vcan.Classic(Libc.CAN_ERR_FLAG | Libc.CAN_ERR_BUSOFF, 0, 0, 0, 0, 0, 0, 0, 0);
        Assert.Equal(0, injector.Send(error));
        Vcan.SendOk(injector, Vcan.Classic(0x7EE));

        Assert.Equal([(Libc.CAN_ERR_FLAG | Libc.CAN_ERR_BUSOFF, false), (0x7EEu, false)], Vcan.Collect(busOffWatcher, buffer, 2));
        // The marker sent after the error frame is the first thing the others see.
        Assert.Equal([(0x7EEu, false)], Vcan.Collect(ackWatcher, buffer, 1));
        Assert.Equal([(0x7EEu, false)], Vcan.Collect(plain, buffer, 1));
    }

    [Fact]
    public void Filters_keep_only_matching_ids()
    {
        using var sender = Vcan.Open();
        using var receiver = Vcan.Open();
        receiver.SetFilters([new Libc.CanFilter { Id = 0x400, Mask = 0x7F0 | Libc.CAN_EFF_FLAG }]);
        using var buffer = new CanReceiveBuffer(8);

        Vcan.SendOk(sender, Vcan.Classic(0x500));
        Vcan.SendOk(sender, Vcan.Classic(0x400 | Libc.CAN_EFF_FLAG));
        Vcan.SendOk(sender, Vcan.Classic(0x40F));
        Vcan.SendOk(sender, Vcan.Classic(0x4F0));
        Vcan.SendOk(sender, Vcan.Classic(0x401));

        Assert.Equal([(0x40Fu, false), (0x401u, false)], Vcan.Collect(receiver, buffer, 2));
    }

    [Fact]
    public void Sending_on_a_down_interface_gives_enetdown_and_works_again_once_up()
    {
        using var sender = Vcan.Open("vcan1");
        using var receiver = Vcan.Open("vcan1");
        using var buffer = new CanReceiveBuffer(4);
        Vcan.SetLink("vcan1", "down");
        try
        {
            Assert.Equal(Errno.ENETDOWN, sender.Send(Vcan.Classic(0x600, 6)));
            // The receiver learns of it once, as a pending socket error that wakes epoll.
            using var epoll = new Epoll();
            epoll.Add(receiver.Fd, token: 1);
            var events = new Libc.EpollEvent[1];
            Assert.Equal(1, epoll.Wait(events, timeoutMs: 5000));
            Assert.True((events[0].Events & Libc.EPOLLERR) != 0, "EPOLLERR expected");
            Assert.Equal(Errno.ENETDOWN, receiver.Receive(buffer, out int count));
            Assert.Equal(0, count);
            Assert.Equal(0, receiver.Receive(buffer, out count));
            Assert.Equal(0, count);
        }
        finally
        {
            Vcan.SetLink("vcan1", "up");
        }

        Assert.Equal(0, sender.Send(Vcan.Classic(0x601, 7)));
        var (frame, _) = Vcan.ReceiveOne(receiver, buffer);
        Assert.Equal(0x601u, Vcan.CanIdOf(frame));
    }

    [Theory]
    [InlineData("vcan9")]
    [InlineData("lo")]
    public void Opening_a_missing_or_non_can_interface_names_it(string name)
    {
        Vcan.RequireAfCan();

        var error = Assert.Throws<SyscallException>(() => CanSocket.Open(name));

        Assert.Equal(Errno.ENODEV, error.ErrorNumber);
        Assert.Contains($"CAN interface {name}", error.Message);
        Assert.Contains("ENODEV", error.Message);
    }

    /// <summary>What the kernel holds for CAN_RAW_FD_FRAMES, not what the wrapper believes.</summary>
    private static unsafe int FdFramesOption(CanSocket socket)
    {
        int value = -1;
        uint length = sizeof(int);
        Assert.Equal(0, Libc.getsockopt(socket.Fd, Libc.SOL_CAN_RAW, Libc.CAN_RAW_FD_FRAMES, &value, &length));
        return value;
    }
}
