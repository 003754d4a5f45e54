using System.Buffers.Binary;
using System.Diagnostics;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using VhostDeviceCan.Interop;
using VhostDeviceCan.VhostUser;
using VhostDeviceCan.VirtioCanWire;

namespace VhostDeviceCan.Device.Tests;

/// <summary>
/// The devices of one virtual bus on one event-loop thread (<see cref="Backend.DeviceLoopGroup"/>):
/// a frame costs the daemon one wake-up, and a front-end that misbehaves on that thread holds
/// nobody else up.
/// </summary>
public sealed class SharedLoopTests
{
    private const int Frames = 200;

    private static CanFrame Frame(int i) => CanFrame.Classic(0x100, false, BitConverter.GetBytes(i));

    /// <summary>Sends <see cref="Frames"/> frames one at a time from A to B, each received and its
    /// transmission completed before the next; returns the daemon's sleeping waits meanwhile.</summary>
    private static long WakeUpsForFramesOneAtATime(SharedBus bus)
    {
        VirtioCanGuest a = bus.ConnectStarted(0);
        VirtioCanGuest b = bus.ConnectStarted(1);
        // Warm up, then let every thread settle into its sleep.
        for (int i = 0; i < 20; i++) SendOne(a, b, i);
        Thread.Sleep(100);
        long before = bus.SleepingWaits;
        for (int i = 0; i < Frames; i++)
        {
            // Long enough for the daemon to be asleep again: a kick that comes while it still
            // looks for work costs no wake-up at all, which would make the count say too little.
            Thread.Sleep(2);
            SendOne(a, b, i);
        }
        return bus.SleepingWaits - before;
    }

    private static void SendOne(VirtioCanGuest a, VirtioCanGuest b, int i)
    {
        Assert.True(a.TrySend(Frame(i)));
        a.Flush();
        Assert.Equal(Frame(i), Assert.Single(DeviceHarness.ReceiveFrames(b, 1)));
        Assert.Equal([VirtioCan.VIRTIO_CAN_RESULT_OK], DeviceHarness.CollectTx(a, 1));
    }

    [Fact]
    public void A_frame_between_two_guests_wakes_the_shared_loop_once()
    {
        using var bus = new SharedBus(2, shared: true);
        long wakeUps = WakeUpsForFramesOneAtATime(bus);
        // One per frame: A's kick. B's inbox is served in the same turn, not after a second wake-up.
        // A little slack for a spurious wake-up (an eventfd write that lands after its consume).
        // A loaded host can make it fewer (a kick that lands before the thread slept again costs
        // none); the point is the bound from above: never the two per frame of a thread per device.
        Assert.InRange(wakeUps, 1, Frames + Frames / 5);
    }

    [Fact]
    public void With_a_thread_per_device_the_same_frame_wakes_the_daemon_twice()
    {
        // The count above measures what it claims: without the group, A's loop wakes for the kick
        // and B's loop for its inbox.
        using var bus = new SharedBus(2, shared: false);
        long wakeUps = WakeUpsForFramesOneAtATime(bus);
        Assert.InRange(wakeUps, Frames + Frames / 2, 2 * Frames + Frames / 5);
    }

    [Fact]
    public void On_the_shared_thread_each_frame_reaches_its_receiver_without_the_receivers_eventfd()
    {
        using var bus = new SharedBus(2, shared: true);
        VirtioCanGuest a = bus.ConnectStarted(0);
        VirtioCanGuest b = bus.ConnectStarted(1);
        for (int i = 0; i < Frames; i++) SendOne(a, b, i);
        // B's member was woken once per frame, always on the bus thread that then read it.
        Assert.Equal(Frames, bus.Member(1).WakeUpsPosted);
        Assert.Equal(0, bus.Member(0).WakeUpsPosted);
    }

    [Fact]
    public void With_a_thread_per_device_no_wake_up_is_posted()
    {
        using var bus = new SharedBus(2, shared: false);
        VirtioCanGuest a = bus.ConnectStarted(0);
        VirtioCanGuest b = bus.ConnectStarted(1);
        for (int i = 0; i < 20; i++) SendOne(a, b, i);
        Assert.Equal(0, bus.Member(1).WakeUpsPosted);
    }

    [Fact]
    public void A_receiver_that_pauses_on_the_shared_thread_gets_every_frame_once_it_reads_again()
    {
        // More than B's receive queue and backlog hold: B's device stops reading its member while
        // wake-ups are still posted to it; they must reach it through the eventfd once it reads.
        const int count = 3000;
        using var bus = new SharedBus(2, shared: true);
        VirtioCanGuest a = bus.ConnectStarted(0);
        VirtioCanGuest b = bus.ConnectStarted(1);
        var sender = new Thread(() =>
        {
            for (int i = 0; i < count;)
            {
                if (a.TrySend(Frame(i))) { i++; continue; }
                a.Flush();
                if (a.CollectTxCompletions() == 0) a.WaitForTx(TimeSpan.FromMilliseconds(100));
            }
            a.Flush();
        });
        sender.Start();
        // Well within the overrun bound, so B is held up, not overrun.
        Thread.Sleep(10);
        List<CanFrame> received = DeviceHarness.ReceiveFrames(b, count);
        sender.Join();
        Assert.Equal(count, received.Count);
        for (int i = 0; i < count; i++) Assert.Equal(Frame(i), received[i]);
        Assert.Equal(0, bus.Member(1).Dropped);
        Assert.True(bus.Member(1).WakeUpsPosted > 0);
    }

    [Fact]
    public void The_shared_thread_sleeps_while_the_bus_is_idle()
    {
        using var bus = new SharedBus(3, shared: true);
        VirtioCanGuest a = bus.ConnectStarted(0);
        VirtioCanGuest b = bus.ConnectStarted(1);
        bus.ConnectStarted(2);
        SendOne(a, b, 1);
        Thread.Sleep(100);
        long waits = bus.SleepingWaits;
        long polls = bus.Group!.PollingWaits;
        Thread.Sleep(300);
        Assert.Equal(waits, bus.SleepingWaits);
        Assert.Equal(polls, bus.Group.PollingWaits);
    }

    [Fact]
    public void A_busy_polling_shared_thread_polls_while_frames_flow_and_sleeps_once_they_stop()
    {
        using var bus = new SharedBus(2, shared: true, busyPoll: TimeSpan.FromMilliseconds(2));
        VirtioCanGuest a = bus.ConnectStarted(0);
        VirtioCanGuest b = bus.ConnectStarted(1);
        for (int i = 0; i < 200; i++) SendOne(a, b, i);
        Assert.True(bus.Group!.PollingWaits > 0);
        // Idle: within the 2 ms window plus scheduling slack the thread is asleep, and stays so.
        long polls = -1;
        var watch = Stopwatch.StartNew();
        while (polls != bus.Group.PollingWaits && watch.Elapsed < DeviceHarness.Timeout)
        {
            polls = bus.Group.PollingWaits;
            Thread.Sleep(50);
        }
        long sleeps = bus.SleepingWaits;
        Thread.Sleep(200);
        Assert.Equal(polls, bus.Group.PollingWaits);
        Assert.Equal(sleeps, bus.SleepingWaits);
        SendOne(a, b, 1);
    }

    [Fact]
    public void A_guest_that_disconnects_mid_traffic_leaves_the_others_served()
    {
        using var bus = new SharedBus(3, shared: true);
        VirtioCanGuest a = bus.ConnectStarted(0);
        VirtioCanGuest b = bus.ConnectStarted(1);
        var c = VirtioCanGuest.Connect(bus.SocketPath(2));
        Assert.True(c.Start(DeviceHarness.Timeout));
        for (int i = 0; i < 50; i++)
        {
            Assert.True(a.TrySend(Frame(i)));
            if (i == 20) c.Dispose();
        }
        a.Flush();
        Assert.Equal(Enumerable.Range(0, 50).Select(Frame), DeviceHarness.ReceiveFrames(b, 50));
        for (int i = 0; i < 10; i++) SendOne(b, a, i);
    }

    [Fact]
    public void Each_device_on_the_group_still_answers_liveness_requests()
    {
        using var bus = new SharedBus(2, shared: true);
        bus.ConnectStarted(0);
        for (int i = 0; i < 2; i++)
        {
            long acks = bus.Server(i).Loop.LivenessAcks;
            bus.Server(i).Loop.RequestLivenessAck();
            var watch = Stopwatch.StartNew();
            while (bus.Server(i).Loop.LivenessAcks == acks && watch.Elapsed < DeviceHarness.Timeout) Thread.Sleep(5);
            Assert.True(bus.Server(i).Loop.LivenessAcks > acks, $"device {i} never answered");
        }
    }

    [Fact]
    public void A_device_stopped_alone_leaves_the_group_and_the_others_keep_serving()
    {
        using var bus = new SharedBus(3, shared: true);
        VirtioCanGuest a = bus.ConnectStarted(0);
        VirtioCanGuest b = bus.ConnectStarted(1);
        using (var leaving = VirtioCanGuest.Connect(bus.SocketPath(2)))
        {
            Assert.True(leaving.Start(DeviceHarness.Timeout));
            Assert.True(bus.Server(2).Stop(DeviceHarness.Timeout), "the device did not leave the group");
        }
        Assert.Equal(2, bus.Group!.Count);
        for (int i = 0; i < 10; i++) SendOne(a, b, i);
    }

    /// <summary>
    /// Guest C's front-end, on the thread that serves A and B, floods requests without reading a
    /// reply, sends garbage, and sends half a message and then nothing. Frames from A to B keep
    /// flowing all along: no wait for C is longer than a short scheduling delay. Each of these
    /// held the thread for the 2-second message timeout when sends waited for room and reads for
    /// whole messages.
    /// </summary>
    [Fact]
    public void A_misbehaving_front_end_does_not_stop_frames_between_two_other_guests()
    {
        using var bus = new SharedBus(3, shared: true);
        VirtioCanGuest a = bus.ConnectStarted(0);
        VirtioCanGuest b = bus.ConnectStarted(1);
        using var done = new CancellationTokenSource();
        long longestGapTicks = 0;
        int sent = 0;
        Exception? trafficFailure = null;
        var traffic = new Thread(() =>
        {
            try
            {
                long last = Stopwatch.GetTimestamp();
                while (!done.IsCancellationRequested)
                {
                    SendOne(a, b, sent++);
                    long now = Stopwatch.GetTimestamp();
                    longestGapTicks = Math.Max(longestGapTicks, now - last);
                    last = now;
                }
            }
            catch (Exception e)
            {
                trafficFailure = e;
            }
        }) { Name = "A to B" };
        traffic.Start();
        try
        {
            FloodWithoutReading(bus.SocketPath(2));
            SendGarbage(bus.SocketPath(2));
            using (SendHalfAMessage(bus.SocketPath(2)))
            {
                int before = Volatile.Read(ref sent);
                Thread.Sleep(500);
                Assert.True(Volatile.Read(ref sent) > before, "no frame went from A to B while C's front-end sat on half a message");
            }
        }
        finally
        {
            done.Cancel();
            traffic.Join();
        }
        Assert.Null(trafficFailure);
        TimeSpan longestGap = Stopwatch.GetElapsedTime(0, longestGapTicks);
        Assert.True(longestGap < TimeSpan.FromSeconds(1), $"frames from A to B stopped for {longestGap.TotalMilliseconds:0} ms");
        Assert.True(sent > 100, $"only {sent} frames from A to B");

        // C's socket still serves a well-behaved guest, which hears A.
        VirtioCanGuest c = ConnectWhenFree(bus.SocketPath(2));
        Assert.True(c.Start(DeviceHarness.Timeout));
        Assert.True(a.TrySend(Frame(-1)));
        a.Flush();
        Assert.Equal(Frame(-1), Assert.Single(DeviceHarness.ReceiveFrames(c, 1)));
        c.Dispose();
    }

    private static byte[] Header(FrontendRequest request, uint size)
    {
        var header = new byte[MessageHeader.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)request);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), MessageHeader.Version);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), size);
        return header;
    }

    /// <summary>GET_FEATURES over and over, no reply ever read, until the daemon hangs up.</summary>
    private static void FloodWithoutReading(string path)
    {
        using var socket = UnixSocket.Connect(path);
        socket.SetTimeouts(TimeSpan.FromMilliseconds(200));
        byte[] request = Header(FrontendRequest.GET_FEATURES, 0);
        var watch = Stopwatch.StartNew();
        try
        {
            // The replies fill this socket's receive buffer; then the daemon must let go.
            while (watch.Elapsed < TimeSpan.FromSeconds(10)) socket.Send(request);
            Assert.Fail("the daemon kept reading requests whose replies nobody read");
        }
        catch (SyscallException e) when (e.ErrorNumber is Errno.EPIPE or Errno.ECONNRESET or Errno.EAGAIN)
        {
            // EAGAIN: the daemon stopped reading; the connection must be gone soon after.
        }
    }

    private static void SendGarbage(string path)
    {
        using var socket = ConnectRaw(path);
        var garbage = new byte[256];
        new Random(7).NextBytes(garbage);
        socket.Send(garbage);
        // The daemon hangs up on a header it cannot take.
        Assert.Equal(0, ReceiveUntilClosed(socket));
    }

    /// <summary>A header that announces a 40-byte payload, and 10 bytes of it.</summary>
    private static UnixSocket SendHalfAMessage(string path)
    {
        UnixSocket socket = ConnectRaw(path);
        byte[] header = Header(FrontendRequest.SET_VRING_ADDR, 40);
        socket.Send([.. header, .. new byte[10]]);
        return socket;
    }

    /// <summary>A raw connection once the previous front-end's session is gone (one at a time).</summary>
    private static UnixSocket ConnectRaw(string path)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            UnixSocket socket = UnixSocket.Connect(path);
            socket.SetTimeouts(DeviceHarness.Timeout);
            // A refused newcomer is closed when it speaks; a served one gets an answer to GET_FEATURES.
            socket.Send(Header(FrontendRequest.GET_FEATURES, 0));
            var reply = new byte[MessageHeader.Length + 8];
            try
            {
                if (socket.ReceiveExactly(reply, new ReceivedFds())) return socket;
            }
            catch (Exception e) when (e is SyscallException or EndOfStreamException)
            {
            }
            socket.Dispose();
            Assert.True(watch.Elapsed < DeviceHarness.Timeout, "the socket stayed busy with the previous front-end");
            Thread.Sleep(20);
        }
    }

    private static VirtioCanGuest ConnectWhenFree(string path)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return VirtioCanGuest.Connect(path);
            }
            catch (Exception e) when (e is VhostUserException or IOException && watch.Elapsed < DeviceHarness.Timeout)
            {
                Thread.Sleep(20);
            }
        }
    }

    private static int ReceiveUntilClosed(UnixSocket socket)
    {
        var buffer = new byte[4096];
        using var fds = new ReceivedFds();
        try
        {
            while (socket.Receive(buffer, fds) > 0) { }
            return 0;
        }
        catch (SyscallException e) when (e.ErrorNumber == Errno.ECONNRESET)
        {
            return 0;
        }
    }
}
