using System.Diagnostics;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Can.Tests;

/// <summary>
/// A member's eventfd wake-up must never be lost, whichever thread sends and whichever reads.
/// The receivers here take one frame per call, so every frame is a wake-up cycle of its own, and
/// threads that only burn CPU outnumber the cores, so that a thread is often preempted between
/// any two of its steps (a lost wake-up that needs a preemption at the wrong instant then shows
/// within seconds, as it did between a daemon's shared bus thread and a bridge's thread).
/// A wake-up counts as lost when the receiver's epoll stays silent for two seconds while its
/// inbox holds frames.
/// </summary>
public class VirtualCanBusWakeTests
{
    private const int FramesPerSender = 60_000;
    private static readonly TimeSpan Silence = TimeSpan.FromSeconds(2);
    // A starved receiver must not be marked overrun (it would lose frames by design), and the
    // senders, which never read, have room for everything the others send.
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private const int SenderInbox = 1 << 16;

    [Fact]
    public void A_member_read_on_its_own_thread_misses_no_wake_up_from_senders_on_other_threads()
    {
        var bus = new VirtualCanBus("wake-" + Guid.NewGuid().ToString("N")) { OverrunAfter = Patience };
        using var receiver = bus.Join(inboxCapacity: 8);
        var senders = new[] { bus.Join(SenderInbox), bus.Join(SenderInbox) };
        using var noise = new CpuNoise(Environment.ProcessorCount + 2);

        string? failure = null;
        var reading = new Thread(() => failure = ReadAll(receiver, senders.Length * FramesPerSender, handler: null)) { IsBackground = true };
        reading.Start();
        var sending = senders.Select((member, index) => StartSender(member, index)).ToArray();

        foreach (var thread in sending) Assert.True(thread.Join(TimeSpan.FromSeconds(120)), "a sender did not finish");
        Assert.True(reading.Join(TimeSpan.FromSeconds(120)), "the receiver did not finish");
        Assert.Null(failure);
        Assert.Equal(0, receiver.Dropped);
        foreach (var member in senders) member.Dispose();
    }

    /// <summary>
    /// A member whose reader's thread also sends on the bus (the guests of one bus served by one
    /// event-loop thread): wake-ups raised on that thread are posted to the reader instead of the
    /// eventfd, while other threads (a bridge's) still write the eventfd. Neither kind may be lost,
    /// nor may a posted one leave the eventfd stuck or silent.
    /// </summary>
    [Fact]
    public void A_member_woken_both_on_its_readers_thread_and_from_other_threads_misses_no_wake_up()
    {
        var bus = new VirtualCanBus("wake-local-" + Guid.NewGuid().ToString("N")) { OverrunAfter = Patience };
        using var receiver = bus.Join(inboxCapacity: 8);
        using var neighbour = bus.Join(SenderInbox);
        var foreign = bus.Join(SenderInbox);
        using var noise = new CpuNoise(Environment.ProcessorCount + 1);
        var handler = new ThisThreadHandler();
        receiver.SetReadinessHandler(handler);

        string? failure = null;
        var reading = new Thread(() =>
        {
            handler.Thread = Environment.CurrentManagedThreadId;
            failure = ReadAll(receiver, 2 * FramesPerSender, handler, neighbour);
        }) { IsBackground = true };
        reading.Start();
        var sending = StartSender(foreign, index: 1);

        Assert.True(sending.Join(TimeSpan.FromSeconds(120)), "the foreign sender did not finish");
        Assert.True(reading.Join(TimeSpan.FromSeconds(120)), "the receiver did not finish");
        Assert.Null(failure);
        Assert.True(receiver.WakeUpsPosted > 0, "no wake-up was posted on the reader's thread");
        Assert.Equal(0, receiver.Dropped);
        foreign.Dispose();
    }

    private static Thread StartSender(VirtualCanBusMember member, int index)
    {
        var thread = new Thread(() =>
        {
            for (long sequence = 0; sequence < FramesPerSender; sequence++)
                member.SendAll([Frame(index, sequence)], TimeSpan.FromSeconds(30));
        }) { IsBackground = true };
        thread.Start();
        return thread;
    }

    private static CanFrame Frame(int sender, long sequence) =>
        CanFrame.Classic((uint)(0x100 + sender), false, BitConverter.GetBytes(sequence));

    /// <summary>
    /// Reads one frame per call until <paramref name="expected"/> arrived in each sender's order.
    /// With a <paramref name="handler"/>, this thread also sends through
    /// <paramref name="localSender"/> (sender 0) after each wake-up, and runs what was posted to
    /// the handler as a device's loop does: the read, then the settle.
    /// </summary>
    private static string? ReadAll(VirtualCanBusMember receiver, int expected, ThisThreadHandler? handler, VirtualCanBusMember? localSender = null)
    {
        using var epoll = new Epoll();
        epoll.Add(receiver.PollFd, token: 0);
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];
        Span<CanFrame> one = stackalloc CanFrame[1];
        var next = new long[2];
        long localSent = 0;
        int received = 0;
        var deadline = Stopwatch.StartNew();
        while (received < expected)
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(100)) return $"timed out after {received} of {expected} frames";
            if (localSender is not null && localSent < FramesPerSender && receiver.PendingCount < receiver.InboxCapacity)
            {
                localSender.TransmitBatch([Frame(0, localSent)], out TransmitStatus status);
                if (status == TransmitStatus.Sent) localSent++;
                if (handler!.TakePost() is { } posted)
                {
                    string? error = Take(receiver, one, next, ref received);
                    if (error is not null) return error;
                    posted.Settle();
                    continue;
                }
            }
            bool waitForever = localSender is null || localSent == FramesPerSender || receiver.PendingCount == receiver.InboxCapacity;
            int ready = epoll.Wait(events, waitForever ? (int)Silence.TotalMilliseconds : 0);
            if (ready == 0 && waitForever && receiver.PendingCount > 0)
                return $"lost wake-up: epoll silent for {Silence.TotalSeconds} s with {receiver.PendingCount} frames pending after {received} received";
            if (ready == 0) continue;
            string? failure = Take(receiver, one, next, ref received);
            if (failure is not null) return failure;
        }
        return null;
    }

    private static string? Take(VirtualCanBusMember receiver, Span<CanFrame> one, long[] next, ref int received)
    {
        if (receiver.Receive(one, out _) == 0) return null;
        int sender = (int)one[0].Id - 0x100;
        long sequence = BitConverter.ToInt64(one[0].Data);
        if ((uint)sender >= next.Length || sequence != next[sender])
            return $"sender {sender}: got frame {sequence}, expected {next[Math.Clamp(sender, 0, next.Length - 1)]}";
        next[sender]++;
        received++;
        return null;
    }

    /// <summary>A device's loop in miniature: knows its thread, keeps what was posted.</summary>
    private sealed class ThisThreadHandler : IReadinessHandler
    {
        private ILocalWake? _posted;

        public int Thread { get; set; }

        public bool OnHandlerThread => Environment.CurrentManagedThreadId == Thread;

        public void Post(ILocalWake source) => _posted = source;

        public ILocalWake? TakePost()
        {
            ILocalWake? posted = _posted;
            _posted = null;
            return posted;
        }
    }

    /// <summary>Threads that spin until disposed, so that the threads under test get preempted.</summary>
    private sealed class CpuNoise : IDisposable
    {
        private readonly Thread[] _threads;
        private volatile bool _stop;

        public CpuNoise(int threads)
        {
            _threads = Enumerable.Range(0, threads).Select(_ => new Thread(() =>
            {
                while (!_stop) Thread.SpinWait(1000);
            }) { IsBackground = true, Priority = ThreadPriority.BelowNormal }).ToArray();
            foreach (var thread in _threads) thread.Start();
        }

        public void Dispose()
        {
            _stop = true;
            foreach (var thread in _threads) thread.Join();
        }
    }
}
