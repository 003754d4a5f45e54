using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using VhostDeviceCan.VirtioCanWire;
using static VhostDeviceCan.Device.Tests.Wire;

namespace VhostDeviceCan.Device.Tests;

/// <summary>The controller state machine (docs/spec/virtio-can.md §7) and what docs/spec/linux-driver.md §8 learned from the real driver.</summary>
public sealed class StateMachineTests
{
    private const byte Ok = VirtioCan.VIRTIO_CAN_RESULT_OK;
    private const byte NotOk = VirtioCan.VIRTIO_CAN_RESULT_NOT_OK;

    private static CanFrame Frame(int i) => CanFrame.Classic((uint)i & 0x7FF, false, [(byte)i, (byte)(i >> 8)]);

    [Fact]
    public void TX_while_stopped_is_NOT_OK_and_never_reaches_the_transport()
    {
        using var harness = new DeviceHarness();
        var guest = harness.Connect();
        for (int i = 0; i < 5; i++) Assert.True(guest.TrySend(Frame(i)));
        guest.Flush();
        Assert.All(DeviceHarness.CollectTx(guest, 5), r => Assert.Equal(NotOk, r));
        Assert.Equal(0, harness.Transport.TransmitCalls);
        Assert.Equal(5, harness.Counters.TxNotOkStopped);

        Assert.True(guest.Start(DeviceHarness.Timeout));
        Assert.Equal(Ok, guest.SendAndWait(Frame(9), DeviceHarness.Timeout));
        Assert.Equal([Frame(9)], harness.Transport.Sent);
    }

    [Fact]
    public void Frames_that_arrive_while_stopped_are_not_delivered_after_START()
    {
        using var device = new SyncDevice();
        device.PostRxBuffers(4);
        device.Inject(Frame(1), Frame(2), Frame(3));
        Assert.Equal(3, device.Counters.RxDroppedWhileStopped);
        Assert.Empty(device.TakeRx());

        device.Start();
        Assert.Empty(device.TakeRx());
        device.Inject(Frame(4));
        Assert.Equal([Frame(4)], device.TakeRx());
    }

    [Fact]
    public void Frames_queued_for_a_guest_without_buffers_are_dropped_at_STOP()
    {
        using var device = new SyncDevice();
        device.Start();
        device.Inject(Frame(1), Frame(2));
        device.Stop();
        device.Start();
        // A buffer posted now must not get a frame from the previous session of the controller.
        device.PostRxBuffers(1);
        Assert.Empty(device.TakeRx());
        device.Inject(Frame(3));
        Assert.Equal([Frame(3)], device.TakeRx());
    }

    [Fact]
    public void STOP_completes_every_TX_already_in_the_ring_before_answering()
    {
        using var harness = new DeviceHarness();
        var guest = harness.ConnectStarted();
        // Published but not kicked: the device only finds them when it looks at the ring itself.
        for (int i = 0; i < 3; i++) Assert.True(guest.TrySend(Frame(i)));
        guest.Frontend.Queue(VirtioCan.TxQueue).Driver.PublishAvailable();

        Assert.True(guest.Stop(DeviceHarness.Timeout));
        // docs/spec/linux-driver.md §8.4: completions after the STOP answer are counted as drops by Linux; they must be there already.
        Span<byte> results = stackalloc byte[8];
        Assert.Equal(3, guest.CollectTxCompletions(results));
        Assert.Equal(3, harness.Transport.Sent.Count);
    }

    [Fact]
    public void STOP_fails_unconfirmed_late_acknowledged_TX_before_answering()
    {
        using var harness = new DeviceHarness(new TestTransport(confirmation: TxConfirmation.Deferred));
        var guest = harness.ConnectStarted();
        Assert.True(guest.Has(VirtioCan.VIRTIO_CAN_F_LATE_TX_ACK));
        for (int i = 0; i < 4; i++) Assert.True(guest.TrySend(Frame(i)));
        guest.Flush();
        Assert.True(harness.Transport.WaitForTransmitCalls(4));
        harness.Transport.Confirm(1);

        Assert.True(guest.Stop(DeviceHarness.Timeout));
        Span<byte> results = stackalloc byte[8];
        Assert.Equal(4, guest.CollectTxCompletions(results));
        // The confirmed one went out; the rest did not make it before the controller stopped.
        Assert.Equal(new byte[] { Ok, NotOk, NotOk, NotOk }, results[..4].ToArray());
    }

    [Fact]
    public void Confirmations_of_frames_failed_by_STOP_do_not_complete_later_frames()
    {
        using var device = new SyncDevice(new TestTransport(confirmation: TxConfirmation.Deferred));
        device.Start();
        device.Send(Frame(1));
        device.Stop();
        Assert.Equal([NotOk], device.TakeTxResults());

        device.Start();
        device.Send(Frame(2));
        // The transport now confirms frame 1, which was already on its way: that says nothing about frame 2.
        device.Transport.Confirm(1);
        device.TransportReadable();
        Assert.Empty(device.TakeTxResults());
        device.Transport.Confirm(1);
        device.TransportReadable();
        Assert.Equal([Ok], device.TakeTxResults());
    }

    [Fact]
    public void LATE_TX_ACK_completes_only_on_confirmation_in_order()
    {
        using var harness = new DeviceHarness(new TestTransport(confirmation: TxConfirmation.Deferred));
        var guest = harness.ConnectStarted();
        for (int i = 0; i < 5; i++) Assert.True(guest.TrySend(Frame(i)));
        guest.Flush();
        Assert.True(harness.Transport.WaitForTransmitCalls(5));
        DeviceHarness.Settle(guest);
        Assert.Equal(0, guest.CollectTxCompletions());

        harness.Transport.Confirm(2);
        Assert.Equal([Ok, Ok], DeviceHarness.CollectTx(guest, 2));
        Assert.True(harness.Transport.WaitDrained());
        DeviceHarness.Settle(guest);
        Assert.Equal(0, guest.CollectTxCompletions());
        Assert.Equal(3, guest.TxInFlight);

        harness.Transport.Confirm(3);
        Assert.Equal([Ok, Ok, Ok], DeviceHarness.CollectTx(guest, 3));
        Assert.Equal(Enumerable.Range(0, 5).Select(Frame), harness.Transport.Sent);
    }

    [Fact]
    public void LATE_TX_ACK_waits_behind_a_malformed_request_in_order()
    {
        using var harness = new DeviceHarness(new TestTransport(confirmation: TxConfirmation.Deferred));
        var guest = harness.ConnectStarted();
        Assert.True(guest.TrySend(Frame(1)));
        Assert.True(guest.TrySendRaw(TxRequest(9, 0, 0x1)));
        Assert.True(guest.TrySend(Frame(2)));
        guest.Flush();
        Assert.True(harness.Transport.WaitForTransmitCalls(2));
        DeviceHarness.Settle(guest);
        // The malformed request's result is known, but completions keep ring order.
        Assert.Equal(0, guest.CollectTxCompletions());
        harness.Transport.Confirm(2);
        Assert.Equal([Ok, NotOk, Ok], DeviceHarness.CollectTx(guest, 3));
    }

    [Fact]
    public void Without_LATE_TX_ACK_negotiated_TX_completes_on_transmit()
    {
        using var harness = new DeviceHarness(new TestTransport(confirmation: TxConfirmation.Deferred));
        var guest = harness.ConnectStarted(Features(Classic | Fd | Rtr));
        Assert.False(guest.Has(VirtioCan.VIRTIO_CAN_F_LATE_TX_ACK));
        for (int i = 0; i < 3; i++) Assert.True(guest.TrySend(Frame(i)));
        guest.Flush();
        Assert.Equal([Ok, Ok, Ok], DeviceHarness.CollectTx(guest, 3));
        // Confirmations that follow anyway are not matched to anything.
        harness.Transport.Confirm(3);
        Assert.Equal(Ok, guest.SendAndWait(Frame(4), DeviceHarness.Timeout));
    }

    [Fact]
    public void AtTransmit_confirmation_completes_late_acknowledged_TX_at_once()
    {
        using var harness = new DeviceHarness(new TestTransport(confirmation: TxConfirmation.AtTransmit));
        var guest = harness.ConnectStarted();
        Assert.True(guest.Has(VirtioCan.VIRTIO_CAN_F_LATE_TX_ACK));
        Assert.Equal(Ok, guest.SendAndWait(Frame(1), DeviceHarness.Timeout));
    }

    [Fact]
    public void Back_pressure_holds_requests_without_spinning_and_retries_in_order()
    {
        using var device = new SyncDevice();
        device.Start();
        device.Transport.Block();
        device.Send([.. Enumerable.Range(0, 10).Select(Frame)]);
        // One attempt, then the device waits for writability instead of retrying.
        Assert.Equal(1, device.Transport.TransmitCalls);
        Assert.True(device.WatchesWritable, "the device does not wait for the transport to become writable");
        Assert.Empty(device.TakeTxResults());

        // More requests arrive while held: they queue behind, not ahead, and nothing is retried,
        // even when the driver kicks without being asked to.
        device.Send([.. Enumerable.Range(10, 5).Select(Frame)]);
        device.Kick(VirtioCan.TxQueue);
        Assert.Equal(1, device.Transport.TransmitCalls);
        Assert.Empty(device.TakeTxResults());

        device.Transport.Unblock();
        device.TransportWritable();
        Assert.Equal(Enumerable.Repeat(Ok, 15), device.TakeTxResults());
        Assert.Equal(Enumerable.Range(0, 15).Select(Frame), device.Transport.Sent);
        Assert.False(device.WatchesWritable);
        Assert.Equal(0, device.Counters.TxNotOkBusDown);
    }

    [Fact]
    public void STOP_while_back_pressured_fails_held_and_queued_requests_before_answering()
    {
        using var harness = new DeviceHarness();
        var guest = harness.ConnectStarted();
        harness.Transport.Block();
        for (int i = 0; i < 6; i++) Assert.True(guest.TrySend(Frame(i)));
        guest.Flush();
        Assert.True(harness.Transport.WaitForTransmitCalls(1));
        // These sit in the ring behind the held ones; the driver already kicked for them.
        for (int i = 6; i < 8; i++) Assert.True(guest.TrySend(Frame(i)));
        guest.Flush();

        Assert.True(guest.Stop(DeviceHarness.Timeout));
        Span<byte> results = stackalloc byte[16];
        Assert.Equal(8, guest.CollectTxCompletions(results));
        Assert.All(results[..8].ToArray(), r => Assert.Equal(NotOk, r));
        Assert.Empty(harness.Transport.Sent);

        // After START the queue works again, with the transport writable.
        harness.Transport.Unblock();
        Assert.True(guest.Start(DeviceHarness.Timeout));
        Assert.Equal(Ok, guest.SendAndWait(Frame(9), DeviceHarness.Timeout));
        Assert.Equal([Frame(9)], harness.Transport.Sent);
    }

    [Fact]
    public void Bus_off_sets_status_fails_pending_TX_notifies_and_START_clears_it()
    {
        using var device = new SyncDevice(new TestTransport(confirmation: TxConfirmation.Deferred));
        device.Start();
        device.PostRxBuffers(4);
        device.Send(Frame(0), Frame(1), Frame(2));
        Assert.Equal(3, device.Transport.TransmitCalls);

        device.Transport.SetBusState(CanBusState.BusOff);
        device.TransportReadable();
        Assert.Equal(1, device.ConfigChanges);
        Assert.Equal(VirtioCan.VIRTIO_CAN_S_CTRL_BUSOFF, device.Device.Status);
        Assert.Equal([NotOk, NotOk, NotOk], device.TakeTxResults());
        Assert.False(device.Device.IsStarted);
        Assert.Equal(1, device.Counters.BusOffEvents);

        // While bus-off the controller is stopped: TX is refused and frames are not delivered.
        device.Send(Frame(5));
        Assert.Equal([NotOk], device.TakeTxResults());
        device.Inject(Frame(6));
        Assert.Empty(device.TakeRx());

        // Linux restarts with START (restart-ms), no STOP first.
        device.Transport.SetBusState(CanBusState.Active);
        device.Start();
        Assert.Equal(0, device.Device.Status);
        Assert.Empty(device.TakeRx());
        device.Inject(Frame(7));
        Assert.Equal([Frame(7)], device.TakeRx());
        // A bus-off controller drops what it had queued: no confirmation follows for the three failed
        // frames, so the first confirmation after the restart is frame 8's.
        device.Send(Frame(8));
        device.Transport.Confirm(1);
        device.TransportReadable();
        Assert.Equal([Ok], device.TakeTxResults());
        Assert.Equal(1, device.ConfigChanges);
    }

    [Fact]
    public void Bus_off_while_back_pressured_fails_queued_requests_too()
    {
        using var harness = new DeviceHarness();
        var guest = harness.ConnectStarted();
        harness.Transport.Block();
        for (int i = 0; i < 4; i++) Assert.True(guest.TrySend(Frame(i)));
        guest.Flush();
        Assert.True(harness.Transport.WaitForTransmitCalls(1));
        for (int i = 4; i < 6; i++) Assert.True(guest.TrySend(Frame(i)));
        guest.Flush();

        harness.Transport.SetBusState(CanBusState.BusOff);
        Assert.True(guest.WaitForConfigChange(DeviceHarness.Timeout));
        Assert.All(DeviceHarness.CollectTx(guest, 6), r => Assert.Equal(NotOk, r));
        harness.Transport.Unblock();
        harness.Transport.SetBusState(CanBusState.Active);
        Assert.True(guest.Start(DeviceHarness.Timeout));
        Assert.Equal(Ok, guest.SendAndWait(Frame(9), DeviceHarness.Timeout));
    }

    [Fact]
    public void Interface_down_while_started_acts_like_bus_off()
    {
        using var harness = new DeviceHarness();
        var guest = harness.ConnectStarted();
        harness.Transport.SetBusState(CanBusState.Down);
        Assert.True(guest.WaitForConfigChange(DeviceHarness.Timeout));
        Assert.Equal(VirtioCan.VIRTIO_CAN_S_CTRL_BUSOFF, guest.ReadStatus());
        Assert.False(guest.Start(DeviceHarness.Timeout), "START must be refused while the interface is down");
        Assert.Equal(VirtioCan.VIRTIO_CAN_S_CTRL_BUSOFF, guest.ReadStatus());
    }

    [Fact]
    public void Frames_the_transport_dropped_for_a_slow_guest_are_counted_and_logged_once()
    {
        using var harness = new DeviceHarness();
        var guest = harness.ConnectStarted();
        harness.Transport.Dropped = 7;
        harness.Transport.InjectAndWaitDrained(Frame(1));
        harness.Transport.Dropped = 9;
        harness.Transport.InjectAndWaitDrained(Frame(2));
        DeviceHarness.Settle(guest);

        Assert.Equal(9, harness.Counters.RxDroppedOnBus);
        Assert.Single(harness.Log.Lines, l => l.Contains("fell behind", StringComparison.Ordinal));
    }

    [Fact]
    public void A_guest_that_posts_no_buffers_has_a_bounded_backlog_and_counted_drops()
    {
        using var harness = new DeviceHarness(options: new CanDeviceOptions { RxBacklogFrames = 16 });
        var guest = harness.ConnectStarted(Features(All, postRxBuffers: false));
        harness.Transport.InjectAndWaitDrained(Enumerable.Range(0, 100).Select(Frame).ToArray());
        DeviceHarness.Settle(guest);
        Assert.Equal(84, harness.Counters.RxDroppedBacklogFull);
        Assert.Equal(0, harness.Counters.RxFrames);
        Assert.Contains(harness.Log.Lines, l => l.Contains("not taking received frames", StringComparison.Ordinal));

        // The oldest 16 are kept, in order, for when buffers come.
        for (int i = 0; i < 16; i++) PostRxBuffer(guest, 16 + 64);
        for (int i = 0; i < 16; i++) Assert.Equal(18u, TakeUsed(guest, VirtioCan.RxQueue));
        Assert.Equal(16, harness.Counters.RxFrames);
    }

    /// <summary>A started guest with no receive buffers and a 16-frame backlog, fed 100 frames by a
    /// transport that holds senders back: once the backlog is full, 84 wait in the transport.</summary>
    private static (TestTransport, DeviceHarness, VirtioCanGuest) HundredFramesBehindAFullBacklog()
    {
        var transport = new TestTransport(holdsBackSenders: true);
        var harness = new DeviceHarness(transport, new CanDeviceOptions { RxBacklogFrames = 16 });
        var guest = harness.ConnectStarted(Features(All, postRxBuffers: false));
        foreach (var frame in Enumerable.Range(0, 100).Select(Frame)) transport.Inject(frame);
        DateTime deadline = DateTime.UtcNow + DeviceHarness.Timeout;
        while (transport.Pending > 84 && DateTime.UtcNow < deadline) Thread.Sleep(1);
        return (transport, harness, guest);
    }

    [Fact]
    public void From_a_transport_that_holds_senders_back_the_device_takes_only_what_its_backlog_has_room_for()
    {
        var (transport, harness, guest) = HundredFramesBehindAFullBacklog();
        using var _ = harness;
        Thread.Sleep(50);
        // The backlog is full and the rest waits in the transport, unwatched: no drops, no busy loop.
        Assert.Equal(84, transport.Pending);
        int calls = transport.ReceiveCalls;
        Thread.Sleep(100);
        Assert.Equal(calls, transport.ReceiveCalls);
        Assert.Equal(0, harness.Counters.RxDroppedBacklogFull);
        Assert.DoesNotContain(harness.Log.Lines, l => l.Contains("not taking received frames", StringComparison.Ordinal));

        // As buffers come, every frame follows, none lost.
        var pool = guest.Frontend.Queue(VirtioCan.RxQueue).Buffers;
        for (int i = 0; i < 100; i++)
        {
            ulong buffer = PostRxBuffer(guest, 16 + 64);
            Assert.Equal(18u, TakeUsed(guest, VirtioCan.RxQueue));
            pool.Return(buffer);
        }
        Assert.Equal(100, harness.Counters.RxFrames);
        Assert.Equal(0, transport.Pending);
        Assert.Equal(0, harness.Counters.RxDroppedBacklogFull);
    }

    [Fact]
    public void A_stopped_controller_drains_a_transport_that_holds_senders_back()
    {
        var (transport, harness, guest) = HundredFramesBehindAFullBacklog();
        using var _ = harness;

        // STOP: a stopped guest must never hold the bus back, so what waits is taken and dropped.
        Assert.True(guest.Stop(DeviceHarness.Timeout));
        Assert.True(transport.WaitDrained());
        Assert.Equal(0, transport.Pending);
        transport.InjectAndWaitDrained(Frame(1));
        Assert.True(harness.Counters.RxDroppedWhileStopped >= 85);
    }

    [Fact]
    public void Device_reset_returns_to_STOPPED_with_status_0()
    {
        using var harness = new DeviceHarness();
        var guest = harness.ConnectStarted();
        harness.Transport.SetBusState(CanBusState.BusOff);
        Assert.True(guest.WaitForConfigChange(DeviceHarness.Timeout));
        harness.Transport.SetBusState(CanBusState.Active);
        Assert.True(guest.Start(DeviceHarness.Timeout));
        harness.Transport.SetBusState(CanBusState.BusOff);
        Assert.True(guest.WaitForConfigChange(DeviceHarness.Timeout));
        Assert.Equal(VirtioCan.VIRTIO_CAN_S_CTRL_BUSOFF, guest.ReadStatus());
        harness.Transport.SetBusState(CanBusState.Active);

        guest.Frontend.ResetDevice();
        Assert.Equal(0, guest.ReadStatus());
        Assert.False(harness.Device.IsStarted);
        guest.Frontend.Start();
        Assert.Equal(NotOk, guest.SendAndWait(Frame(1), DeviceHarness.Timeout));
        Assert.True(guest.Start(DeviceHarness.Timeout));
        Assert.Equal(Ok, guest.SendAndWait(Frame(2), DeviceHarness.Timeout));
        Assert.Equal([Frame(2)], harness.Transport.Sent);
    }

    [Fact]
    public void Guest_disconnect_resets_the_device_and_the_next_guest_starts_STOPPED()
    {
        using var harness = new DeviceHarness();
        var first = harness.ConnectStarted();
        harness.Transport.SetBusState(CanBusState.BusOff);
        Assert.True(first.WaitForConfigChange(DeviceHarness.Timeout));
        harness.Transport.SetBusState(CanBusState.Active);
        first.Dispose();

        var second = harness.Connect();
        Assert.Equal(0, second.ReadStatus());
        Assert.False(harness.Device.IsStarted);
        Assert.Equal(NotOk, second.SendAndWait(Frame(1), DeviceHarness.Timeout));
        Assert.True(second.Start(DeviceHarness.Timeout));
        Assert.Equal(Ok, second.SendAndWait(Frame(2), DeviceHarness.Timeout));
        Assert.Equal([Frame(2)], harness.Transport.Sent);
    }

    [Fact]
    public void After_START_the_Txq_and_Rxq_are_signalled_once_more_a_little_later()
    {
        using var harness = new DeviceHarness();
        var guest = harness.Connect();
        var tx = guest.Frontend.Queue(VirtioCan.TxQueue).CallFd;
        var rx = guest.Frontend.Queue(VirtioCan.RxQueue).CallFd;
        Assert.True(guest.Start(DeviceHarness.Timeout));
        var answered = System.Diagnostics.Stopwatch.StartNew();
        tx.Consume();
        rx.Consume();

        using var epoll = new VhostDeviceCan.Interop.Epoll();
        epoll.Add(tx.Fd, 0);
        epoll.Add(rx.Fd, 1);
        Span<VhostDeviceCan.Interop.Libc.EpollEvent> events = stackalloc VhostDeviceCan.Interop.Libc.EpollEvent[2];
        bool txSignalled = false, rxSignalled = false;
        while (!(txSignalled && rxSignalled) && answered.Elapsed < TimeSpan.FromSeconds(2))
        {
            if (epoll.Wait(events, 2000) == 0) break;
            txSignalled |= tx.Consume() != 0;
            rxSignalled |= rx.Consume() != 0;
        }
        TimeSpan elapsed = answered.Elapsed;
        Assert.True(txSignalled, "the Txq was not signalled after START");
        Assert.True(rxSignalled, "the Rxq was not signalled after START");
        // docs/spec/linux-driver.md §8.1: later than the answer (the driver enables NAPI after it), but only tens of ms.
        Assert.InRange(elapsed.TotalMilliseconds, 30, 1000);
        // Exactly once: nothing more follows.
        Assert.Equal(0, epoll.Wait(events, 150));
    }

    [Fact]
    public void Nothing_is_used_on_the_Rxq_while_stopped()
    {
        using var device = new SyncDevice();
        device.PostRxBuffers(4);
        device.Inject(Frame(1));
        // Rx buffers are posted at connect; none may be used before START (docs/spec/linux-driver.md §9).
        Assert.Empty(device.TakeRx());
        Assert.Equal(1, device.Counters.RxDroppedWhileStopped);
        Assert.Equal(0, device.Counters.RxFrames);
    }
}
