using System.Diagnostics;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Can.Tests;

/// <summary>A timed virtual bus: frames take their wire time, contend by identifier, and are
/// confirmed when they have left the wire.</summary>
public sealed class TimedBusTests
{
    private static readonly byte[] Eight = [1, 2, 3, 4, 5, 6, 7, 8];

    private static VirtualCanBus NewBus(int bitrate) => new("timed-" + Guid.NewGuid().ToString("N"), new BusTiming(bitrate));

    private static CanFrame Std(uint id) => CanFrame.Classic(id, false, Eight);

    private static double Seconds(long ticks) => (double)ticks / Stopwatch.Frequency;

    [Fact]
    public void The_lowest_identifier_pending_wins_each_arbitration()
    {
        // 1 kbit/s: the first frame holds the wire for 135 ms, long enough for every other
        // member to offer its frame before the wire is free again.
        using var bus = NewBus(1_000);
        using var first = bus.Join();
        using var a = bus.Join();
        using var b = bus.Join();
        using var c = bus.Join();
        using var d = bus.Join();
        using var e = bus.Join();
        using var receiver = bus.Join();
        Assert.Equal(TransmitStatus.Sent, first.Transmit(Std(0x7FF)));
        Assert.Equal(TransmitStatus.Sent, a.Transmit(Std(0x300)));
        Assert.Equal(TransmitStatus.Sent, b.Transmit(CanFrame.Classic(0x100 << 18, true, Eight)));
        Assert.Equal(TransmitStatus.Sent, c.Transmit(Std(0x200)));
        Assert.Equal(TransmitStatus.Sent, d.Transmit(CanFrame.Remote(0x100, false, 8)));
        Assert.Equal(TransmitStatus.Sent, e.Transmit(Std(0x100)));

        var got = ReceiveN(receiver, 6, TimeSpan.FromSeconds(10));

        // Standard data 0x100, then its remote frame (RTR recessive), then the extended frame with
        // base 0x100 (IDE recessive), then the higher identifiers.
        Assert.Equal(["7FF#0102030405060708", "100#0102030405060708", "100#R8", "04000000#0102030405060708", "200#0102030405060708", "300#0102030405060708"],
            got.Select(f => f.Frame.ToString()));
    }

    [Fact]
    public void A_members_frames_keep_their_order_whatever_their_identifiers()
    {
        using var bus = NewBus(1_000);
        using var first = bus.Join();
        using var a = bus.Join();
        using var b = bus.Join();
        using var receiver = bus.Join();
        first.Transmit(Std(0x001));
        // a's 0x100 waits behind a's own 0x700: a controller sends its queue in order.
        Assert.Equal(2, a.TransmitBatch([Std(0x700), Std(0x100)], out _));
        b.Transmit(Std(0x400));

        var got = ReceiveN(receiver, 4, TimeSpan.FromSeconds(10));

        Assert.Equal(new uint[] { 0x001, 0x400, 0x700, 0x100 }, got.Select(f => f.Frame.Id));
    }

    [Theory]
    [InlineData(125_000, 2000)]
    [InlineData(500_000, 8000)]
    [InlineData(1_000_000, 16000)]
    public void Back_to_back_frames_arrive_at_the_computed_wire_time(int bitrate, int count)
    {
        using var bus = NewBus(bitrate);
        // A transmit queue that takes every frame at once, so that the sender's own scheduling
        // never leaves the wire idle: what is measured is the wire.
        using var sender = bus.Join(txQueueCapacity: 1 << 14);
        using var receiver = bus.Join(inboxCapacity: 1 << 14);
        var frames = Enumerable.Range(0, count).Select(i => CanFrame.Classic(0x123, false, BitConverter.GetBytes((long)i))).ToArray();
        long wire = bus.Timing!.Value.WireTicks(in frames[0]);
        var starts = new long[count];
        var ends = new long[count];
        int seen = 0;
        bus.WireObserver = (VirtualCanBusMember _, in CanFrame frame, long _, long start, long end) =>
        {
            starts[seen] = start;
            ends[seen++] = end;
        };

        long offered = Stopwatch.GetTimestamp();
        Assert.Equal(count, sender.TransmitBatch(frames, out _));
        var got = ReceiveN(receiver, count, TimeSpan.FromSeconds(30));

        Assert.Equal(Enumerable.Range(0, count).Select(i => (long)i), got.Select(f => BitConverter.ToInt64(f.Frame.Data)));
        // The observer and the counters run just after each delivery: give the wire thread a moment.
        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref seen) == count && bus.WireFrames == count, TimeSpan.FromSeconds(1)));
        // On the bus clock the frames are exactly back to back, the first starting at its offer.
        Assert.InRange(starts[0], offered, got[0].At);
        for (int k = 0; k < count; k++) Assert.Equal(starts[0] + (k + 1) * wire, ends[k]);
        // Delivery is never before a frame's end, however late the wire thread wakes.
        for (int k = 0; k < count; k++)
            Assert.True(got[k].At >= ends[k], $"frame {k} arrived {Seconds(ends[k] - got[k].At) * 1e6:0} µs early");
        // Measured at the receiver, the mean gap is the computed wire time within 2 % over about
        // 2 s. Robust to a few late wake-ups (a loaded host delays a thread by tens of ms now and
        // then): the slope between the first and the last tenth of the frames, each tenth taken
        // at its median offset from the computed schedule.
        int tenth = count / 10;
        double Offset(int from) => got.Skip(from).Take(tenth).Select((f, i) => Seconds(f.At - (from + i) * wire)).Order().ElementAt(tenth / 2);
        double computed = Seconds(wire);
        double mean = computed + (Offset(count - tenth) - Offset(0)) / (count - tenth);
        Assert.InRange(mean, computed * 0.98, computed * 1.02);
        Assert.Equal(Seconds(wire * count), bus.BusyTime.TotalSeconds, 3);
    }

    [Fact]
    public void Outcomes_come_once_each_frame_has_left_the_wire_in_order()
    {
        using var bus = NewBus(125_000);
        using var sender = bus.Join();
        using var receiver = bus.Join();
        Assert.Equal(TxConfirmation.Deferred, sender.Confirmation);
        const int Count = 20;
        var frames = Enumerable.Range(0, Count).Select(i => Std((uint)i)).ToArray();
        var tags = Enumerable.Range(0, Count).Select(i => new TxTag(1000 + (ulong)i)).ToArray();
        long wire = bus.Timing!.Value.WireTicks(in frames[0]);

        long offered = Stopwatch.GetTimestamp();
        Assert.Equal(Count, sender.TransmitBatch(frames, tags, out TransmitStatus status));
        Assert.Equal(TransmitStatus.Sent, status);

        var outcomes = new List<(TxOutcome Outcome, long At)>();
        using var epoll = new Epoll();
        epoll.Add(sender.PollFd, 0);
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];
        var batch = new TxOutcome[4];
        var clock = Stopwatch.StartNew();
        while (outcomes.Count < Count && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            epoll.Wait(events, 1000);
            Assert.Equal(0, sender.Receive(new CanFrame[8], batch, out int n));
            long now = Stopwatch.GetTimestamp();
            for (int i = 0; i < n; i++) outcomes.Add((batch[i], now));
        }

        Assert.Equal(tags, outcomes.Select(o => o.Outcome.Tag));
        Assert.All(outcomes, o => Assert.True(o.Outcome.Confirmed));
        for (int k = 0; k < Count; k++)
            Assert.True(outcomes[k].At >= offered + (k + 1) * wire, $"outcome {k} came before the frame's end");
        Assert.Equal(Count, ReceiveN(receiver, Count, TimeSpan.FromSeconds(1)).Count);
    }

    [Fact]
    public void Offers_abandoned_at_bus_off_are_reported_not_sent()
    {
        using var bus = NewBus(1_000);
        using var sender = bus.Join();
        using var receiver = bus.Join();
        var tags = new[] { new TxTag(1), new TxTag(2), new TxTag(3) };
        Assert.Equal(3, sender.TransmitBatch([Std(1), Std(2), Std(3)], tags, out _));
        // Once the first frame is on the wire (135 ms), the others wait in the controller's queue.
        Assert.True(SpinWait.SpinUntil(() => sender.TxQueued == 2, TimeSpan.FromSeconds(5)));
        sender.InjectBusOff();
        var outcomes = new TxOutcome[8];
        Assert.Equal(0, sender.Receive(new CanFrame[8], outcomes, out _));
        Assert.Equal(CanBusState.BusOff, sender.BusState);

        var reported = new List<TxOutcome>();
        var clock = Stopwatch.StartNew();
        while (reported.Count < 3 && clock.Elapsed < TimeSpan.FromSeconds(5))
        {
            Thread.Sleep(5);
            sender.Receive(new CanFrame[8], outcomes, out int n);
            reported.AddRange(outcomes[..n]);
        }
        // The frame on the wire finishes; the rest never go out.
        Assert.Equal([new TxOutcome(tags[1], false), new TxOutcome(tags[2], false), new TxOutcome(tags[0], true)],
            reported.OrderBy(o => o.Confirmed).ThenBy(o => o.Tag.Value));
        Assert.Single(ReceiveN(receiver, 1, TimeSpan.FromSeconds(1)));
        Thread.Sleep(50);
        Assert.Equal(0, receiver.Receive(new CanFrame[8], out _));
    }

    /// <summary>
    /// At full load a high-priority periodic sender waits at most for the frame on the wire and
    /// then sends its own, so its latency stays within two frame times on the bus clock, while two
    /// low-priority flooders share what is left of the bus and wait behind each other's queues.
    /// </summary>
    [Fact]
    public void At_full_load_a_high_priority_sender_stays_bounded_while_flooders_share_the_rest()
    {
        const int Bitrate = 125_000;
        const int Periodic = 200;
        var period = TimeSpan.FromMilliseconds(5);
        using var bus = NewBus(Bitrate);
        using var high = bus.Join();
        using var flood1 = bus.Join();
        using var flood2 = bus.Join();
        using var receiver = bus.Join(inboxCapacity: 1 << 14);
        long wire = bus.Timing!.Value.WireTicks(Std(0x700));
        // Bus-clock latencies (offer to end of frame), written by the wire thread.
        var highLatency = new List<long>();
        var floodLatency = new List<long>();
        long firstHighStart = 0, lastHighEnd = 0, floodFrames = 0, previousEnd = 0, overlaps = 0;
        bus.WireObserver = (VirtualCanBusMember sender, in CanFrame frame, long offeredAt, long start, long end) =>
        {
            // One frame at a time on the wire.
            if (start < previousEnd) overlaps++;
            previousEnd = end;
            if (ReferenceEquals(sender, high))
            {
                if (highLatency.Count == 0) firstHighStart = start;
                lastHighEnd = end;
                highLatency.Add(end - offeredAt);
            }
            else
            {
                floodLatency.Add(end - offeredAt);
                if (highLatency.Count > 0 && highLatency.Count < Periodic) floodFrames++;
            }
        };

        using var stop = new CancellationTokenSource();
        var flooders = new[] { flood1, flood2 }.Select(member => new Thread(() => Flood(member, stop.Token)) { IsBackground = true }).ToArray();
        foreach (var flooder in flooders) flooder.Start();
        Thread.Sleep(100);

        var offeredAt = new long[Periodic];
        List<(CanFrame Frame, long At)> received = [];
        var receiving = new Thread(() => received = ReceiveN(receiver, int.MaxValue, TimeSpan.FromSeconds(5), f => f.Id == 0x100, Periodic))
        {
            IsBackground = true,
        };
        receiving.Start();
        for (int i = 0; i < Periodic; i++)
        {
            offeredAt[i] = Stopwatch.GetTimestamp();
            Assert.Equal(TransmitStatus.Sent, high.Transmit(CanFrame.Classic(0x100, false, BitConverter.GetBytes((long)i))));
            Thread.Sleep(period);
            // Every member takes what it hears: a full inbox would hold the bus (the stall rule).
            DrainAll(high);
        }
        Assert.True(receiving.Join(TimeSpan.FromSeconds(10)));
        double load = bus.LoadLastSecond;
        stop.Cancel();
        foreach (var flooder in flooders) Assert.True(flooder.Join(TimeSpan.FromSeconds(10)));

        Assert.Equal(Periodic, highLatency.Count);
        Assert.Equal(Periodic, received.Count(f => f.Frame.Id == 0x100));
        // On the bus clock: at most the frame on the wire and its own. A frame whose offer was
        // still being written when an arbitration began misses that one, and waits one frame more.
        highLatency.Sort();
        Assert.True(highLatency[Periodic * 9 / 10] <= 2 * wire, $"p90 {Seconds(highLatency[Periodic * 9 / 10]) * 1e3:0.000} ms, frame {Seconds(wire) * 1e3:0.000} ms");
        Assert.True(highLatency[^1] <= 3 * wire, $"max {Seconds(highLatency[^1]) * 1e3:0.000} ms");
        // Flooders wait behind each other's queues: many frame times.
        floodLatency.Sort();
        Assert.True(floodLatency[floodLatency.Count / 2] > 10 * wire, $"flooder median {Seconds(floodLatency[floodLatency.Count / 2]) * 1e3:0.0} ms");
        // They had the rest of the bus and no more: every frame time between the first periodic
        // frame's end and the last one's start, beside the periodic frames (all frames are 8 bytes).
        Assert.Equal(0, overlaps);
        double rest = (double)(lastHighEnd - firstHighStart) / wire - Periodic;
        Assert.InRange(floodFrames, rest * 0.95, rest);
        Assert.True(load > 0.9, $"bus load {load:P1}");
        // Measured at the receiver, the wire's and the receiver's wake-up delays come on top: the
        // bound stated for them is 10 ms at the median, what a 2-core host shared with builds
        // still meets (an idle one: well under 1 ms).
        var wall = received.Where(f => f.Frame.Id == 0x100).Select(f => Seconds(f.At - offeredAt[BitConverter.ToInt64(f.Frame.Data)])).Order().ToList();
        Assert.True(wall[Periodic / 2] <= Seconds(2 * wire) + 0.010, $"median at the receiver {wall[Periodic / 2] * 1e3:0.00} ms");
    }

    private static void DrainAll(VirtualCanBusMember member)
    {
        var frames = new CanFrame[256];
        while (member.Receive(frames, out _) == frames.Length)
        {
        }
    }

    private static void Flood(VirtualCanBusMember member, CancellationToken stop)
    {
        var frames = Enumerable.Repeat(Std(0x700), 32).ToArray();
        using var epoll = new Epoll();
        epoll.Add(member.WritePollFd, 1);
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];
        while (!stop.IsCancellationRequested)
        {
            member.TransmitBatch(frames, out TransmitStatus status);
            if (status == TransmitStatus.WouldBlock) epoll.Wait(events, 100);
            DrainAll(member);
        }
    }

    /// <summary>Receives until <paramref name="count"/> frames came (or <paramref name="wanted"/> of those
    /// matching <paramref name="match"/>), or until <paramref name="patience"/> passes without any.</summary>
    private static List<(CanFrame Frame, long At)> ReceiveN(VirtualCanBusMember member, int count, TimeSpan patience,
        Func<CanFrame, bool>? match = null, int wanted = 0)
    {
        var got = new List<(CanFrame, long)>();
        int matched = 0;
        var frames = new CanFrame[64];
        using var epoll = new Epoll();
        epoll.Add(member.PollFd, 0);
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];
        var clock = Stopwatch.StartNew();
        while (got.Count < count && (match is null || matched < wanted) && clock.Elapsed < patience)
        {
            epoll.Wait(events, 100);
            int n = member.Receive(frames, out _);
            long now = Stopwatch.GetTimestamp();
            if (n > 0) clock.Restart();
            for (int i = 0; i < n; i++)
            {
                got.Add((frames[i], now));
                if (match is not null && match(frames[i])) matched++;
            }
        }
        return got;
    }
}
