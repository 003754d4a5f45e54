using System.Diagnostics;
using VhostDeviceCan.Can.Faults;
using static VhostDeviceCan.Can.Tests.Faults.FaultTestBus;

namespace VhostDeviceCan.Can.Tests.Faults;

public class FaultTimingTests
{
    [Fact]
    public void Rx_delay_holds_frames_at_least_the_delay_and_releases_them_in_order()
    {
        using var bus = new FaultTestBus(receiverFaults: "rx:delay=30ms+-10ms,seed=3");
        var started = Stopwatch.StartNew();
        bus.SendNumbered(40);
        // Taken from the bus at once, handed over only when due: nothing yet.
        Assert.Empty(Drain(bus.Receiver));
        Assert.Equal(40, bus.Receiver.Counts.RxDelayed);
        var received = new List<CanFrame>();
        while (received.Count < 40 && started.ElapsedMilliseconds < 5000)
        {
            Assert.True(WaitReadable(bus.Receiver.PollFd, 5000), "the delay timer never woke the receiver");
            List<CanFrame> now = Drain(bus.Receiver);
            if (now.Count > 0) Assert.True(started.Elapsed >= TimeSpan.FromMilliseconds(20), $"a frame left after {started.Elapsed.TotalMilliseconds} ms");
            received.AddRange(now);
        }
        // Jitter never reorders.
        Assert.Equal(Enumerable.Range(0, 40).Select(Numbered), received);
        // Nothing held, nothing armed: no more wake-ups.
        Assert.False(WaitReadable(bus.Receiver.PollFd, 50));
    }

    [Fact]
    public void Tx_delay_sends_when_the_sender_loop_is_woken_by_its_timer()
    {
        using var bus = new FaultTestBus(senderFaults: "tx:delay=20ms");
        var started = Stopwatch.StartNew();
        bus.SendNumbered(5);
        Assert.Empty(Drain(bus.Receiver));
        Assert.True(WaitReadable(bus.Sender.PollFd, 5000));
        // The device calls Receive when its transport's fd is readable; that releases the frames.
        Assert.Empty(Drain(bus.Sender));
        Assert.True(started.Elapsed >= TimeSpan.FromMilliseconds(20));
        Assert.Equal(Enumerable.Range(0, 5).Select(Numbered), Drain(bus.Receiver));
        Assert.Equal(5, bus.Sender.Counts.TxDelayed);
        Assert.False(IsReadable(bus.Sender.PollFd));
    }

    [Fact]
    public void A_full_delay_line_holds_the_sender_back_and_loses_nothing()
    {
        using var bus = new FaultTestBus(senderFaults: "tx:delay=200ms", delayCapacity: 4);
        Assert.Equal(TransmitStatus.Sent, bus.Sender.Transmit(Numbered(0)));
        Assert.Equal(TransmitStatus.Sent, bus.Sender.Transmit(Numbered(1)));
        Assert.Equal(TransmitStatus.Sent, bus.Sender.Transmit(Numbered(2)));
        Assert.Equal(TransmitStatus.WouldBlock, bus.Sender.Transmit(Numbered(3)));
        // WritePollFd tells the device when to retry: once the held frames have left.
        Assert.False(IsReadable(bus.Sender.WritePollFd));
        Assert.True(WaitReadable(bus.Sender.WritePollFd, 5000));
        Assert.Equal(TransmitStatus.Sent, bus.Sender.Transmit(Numbered(3)));
        Assert.Equal(new[] { 0, 1, 2 }.Select(Numbered), Drain(bus.Receiver));
        Assert.True(WaitReadable(bus.Sender.PollFd, 5000));
        Drain(bus.Sender);
        Assert.Equal(new[] { Numbered(3) }, Drain(bus.Receiver));
    }

    [Fact]
    public void Bus_off_after_n_frames_silences_the_controller_until_the_guest_restarts_it()
    {
        using var bus = new FaultTestBus(senderFaults: "bus-off-after=5,recover=restart");
        for (int i = 0; i < 5; i++) Assert.Equal(TransmitStatus.Sent, bus.Sender.Transmit(Numbered(i)));
        Assert.Equal(CanBusState.BusOff, bus.Sender.BusState);
        Assert.Equal(TransmitStatus.Down, bus.Sender.Transmit(Numbered(5)));
        Assert.Equal(Enumerable.Range(0, 5).Select(Numbered), Drain(bus.Receiver));

        // Off the bus it hears nothing, and what it missed is counted.
        Assert.Equal(TransmitStatus.Sent, bus.Receiver.Transmit(Numbered(100)));
        Assert.Empty(Drain(bus.Sender));
        Assert.Equal(1, bus.Sender.DroppedWhileBusOff);

        bus.Sender.Restart();
        Assert.Equal(CanBusState.Active, bus.Sender.BusState);
        Assert.Equal(TransmitStatus.Sent, bus.Sender.Transmit(Numbered(6)));
        Assert.Equal(new[] { Numbered(6) }, Drain(bus.Receiver));
        Assert.Equal(TransmitStatus.Sent, bus.Receiver.Transmit(Numbered(101)));
        Assert.Equal(new[] { Numbered(101) }, Drain(bus.Sender));
        FaultCounts counts = bus.Sender.Counts;
        Assert.Equal((1, 1, 1), (counts.BusOffs, counts.Recoveries, counts.LostWhileBusOff));
    }

    [Fact]
    public void Timed_bus_off_wakes_the_loop_ignores_an_early_restart_and_recovers_on_time()
    {
        // Started first: the layer's schedule counts from its construction, so no check can see it early.
        var started = Stopwatch.StartNew();
        using var bus = new FaultTestBus(senderFaults: "bus-off-at=30ms,recover=100ms");
        Assert.True(WaitReadable(bus.Sender.PollFd, 5000));
        Drain(bus.Sender);
        Assert.Equal(CanBusState.BusOff, bus.Sender.BusState);
        Assert.True(started.Elapsed >= TimeSpan.FromMilliseconds(30));
        bus.Sender.Restart();
        Assert.Equal(CanBusState.BusOff, bus.Sender.BusState);
        Assert.True(WaitReadable(bus.Sender.PollFd, 5000));
        Drain(bus.Sender);
        Assert.Equal(CanBusState.Active, bus.Sender.BusState);
        // Off at 30 ms for 100 ms: never back before 130 ms (a busy host may wake the test later, never sooner).
        Assert.True(started.Elapsed >= TimeSpan.FromMilliseconds(130), $"recovered {started.Elapsed.TotalMilliseconds} ms after start");
        Assert.Equal((1, 1), (bus.Sender.Counts.BusOffs, bus.Sender.Counts.Recoveries));
        Assert.False(WaitReadable(bus.Sender.PollFd, 50));
    }

    [Fact]
    public void Rules_replaced_from_another_thread_take_effect_on_the_next_call_and_start_counting_afresh()
    {
        using var bus = new FaultTestBus(senderFaults: "tx:drop-every=2");
        bus.SendNumbered(3);
        Assert.Equal(new[] { 0, 2 }.Select(Numbered), Drain(bus.Receiver));

        var replacer = new Thread(() => bus.Sender.ReplaceRules(FaultTestBus.Rules("tx:drop-every=3,seed=9")));
        replacer.Start();
        replacer.Join();
        // The loop is woken to take them.
        Assert.True(IsReadable(bus.Sender.PollFd));
        Assert.Equal("tx: drop every 3; seed 9", bus.Sender.Rules.ToString());
        bus.SendNumbered(6);
        Assert.Equal(new[] { 0, 1, 3, 4 }.Select(Numbered), Drain(bus.Receiver));
        Drain(bus.Sender);
        Assert.False(IsReadable(bus.Sender.PollFd));
        Assert.Equal(1 + 2, bus.Sender.Counts.TxDropped);

        bus.Sender.ReplaceRules(FaultRules.None);
        bus.SendNumbered(4);
        Assert.Equal(Enumerable.Range(0, 4).Select(Numbered), Drain(bus.Receiver));
    }

    [Fact]
    public void InjectBusOff_from_another_thread_works_on_any_transport()
    {
        using var bus = new FaultTestBus();
        var injector = new Thread(() => bus.Receiver.InjectBusOff());
        injector.Start();
        injector.Join();
        Assert.True(IsReadable(bus.Receiver.PollFd));
        Drain(bus.Receiver);
        Assert.Equal(CanBusState.BusOff, bus.Receiver.BusState);
        bus.Receiver.Restart();
        Assert.Equal(CanBusState.Active, bus.Receiver.BusState);
        Assert.Equal(1, bus.Receiver.Counts.BusOffs);
    }
}
