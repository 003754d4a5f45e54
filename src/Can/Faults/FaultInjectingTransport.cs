using System.Diagnostics;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Can.Faults;

/// <summary>
/// Sits between a device and its real transport (SocketCAN, the virtual bus) and injects faults
/// per direction: refuse, drop, flip a data bit, duplicate, delay, and a forced bus-off. The device
/// sees an ordinary <see cref="ICanTransport"/>, so faults need no code in it, and no rules cost one
/// branch per call.
/// </summary>
/// <remarks>
/// Readiness: <see cref="PollFd"/> is an epoll of its own holding the inner transport's PollFd, one
/// timerfd (the next delayed frame, scheduled bus-off or recovery) and an eventfd for requests from
/// other threads; <see cref="WritePollFd"/> is a second epoll holding the inner transport's write fd,
/// and this layer's room eventfd and timer while a transmission waits for room in the delay line. Nothing is armed while nothing is delayed or scheduled, so an idle guest costs nothing.
/// Threading: the device loop's thread makes every ICanTransport call; <see cref="ReplaceRules"/>,
/// <see cref="InjectBusOff"/>, <see cref="Rules"/> and <see cref="Counts"/> are for any thread. A new
/// rule set is taken at the start of the loop's next call, whole.
/// Random choices come from one <see cref="SplitMix64"/> stream per direction and fault kind, seeded
/// from the rule set's seed, so a seed picks the same frames whatever other faults are configured.
/// </remarks>
public sealed partial class FaultInjectingTransport : ICanTransport
{
    /// <summary>Frames one direction may hold delayed: four of the virtual bus's default inboxes, a quarter
    /// second of a saturated 1 Mbit/s bus. When full, the sender waits (back-pressure): nothing is lost.</summary>
    public const int DefaultDelayCapacity = 4096;

    private const ulong InnerReadToken = 1;
    private const ulong TimerToken = 2;
    private const ulong WakeToken = 3;
    private const ulong InnerWritableToken = 4;
    private const ulong RoomToken = 5;

    private readonly ICanTransport _inner;
    private readonly Epoll _readable = new();
    private readonly Epoll _writable = new();
    private readonly TimerFd _timer = new();
    private readonly EventFd _wake = new();
    private readonly EventFd _room = new();
    private readonly FaultCounters _counters = new();
    private readonly DelayLine _txLine;
    private readonly DelayLine _rxLine;
    private readonly TxOutcome[] _ownOutcomes;
    private int _ownOutcomeHead;
    private int _ownOutcomeCount;
    private readonly CanFrame[] _scratch = new CanFrame[64];

    // Set by any thread, taken by the loop (see TakeRequests for the fence pairing).
    private FaultRules? _pendingRules;
    // TimeSpan ticks of the requested bus-off's recovery time; -1: on restart.
    private long _pendingBusOffRecovery;
    private int _busOffRequested;
    private int _wakeSignalled;

    private volatile FaultRules _rules = FaultRules.None;
    private DirectionState _tx = null!;
    private DirectionState _rx = null!;
    private int _busOffFramesLeft;
    private long _busOffAt;
    private bool _forcedBusOff;
    private long _recoverAt;
    private long _rxLostWhileBusOff;

    private long _timerDue = long.MaxValue;
    private bool _txReleaseBlocked;
    private bool _rxInnerPaused;
    private bool _waitingForRoom;
    private bool _disposed;

    public FaultInjectingTransport(ICanTransport inner, FaultRules? rules = null, int delayCapacity = DefaultDelayCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delayCapacity, 2);
        _inner = inner;
        _txLine = new DelayLine(delayCapacity);
        _rxLine = new DelayLine(delayCapacity);
        _ownOutcomes = new TxOutcome[delayCapacity];
        try
        {
            _readable.Add(inner.PollFd, InnerReadToken, Libc.EPOLLIN);
            _readable.Add(_timer.Fd, TimerToken, Libc.EPOLLIN);
            _readable.Add(_wake.Fd, WakeToken, Libc.EPOLLIN);
            // Always there: a transmission the inner transport held back, passed straight through
            // without rules, is retried when the inner transport says so, exactly as without this layer.
            if (inner.WritePollFd >= 0) _writable.Add(inner.WritePollFd, InnerWritableToken, inner.WritePollEvents);
        }
        catch
        {
            DisposeOwnFds();
            throw;
        }
        Install(rules ?? FaultRules.None, Stopwatch.GetTimestamp());
    }

    /// <summary>The transport the faults are injected in front of.</summary>
    public ICanTransport Inner => _inner;

    public string Name => _inner.Name;
    public bool SupportsFd => _inner.SupportsFd;
    public TxConfirmation Confirmation => _inner.Confirmation;
    public int PollFd => _readable.Fd;
    public int WritePollFd => _writable.Fd;
    /// <summary>An epoll fd is readable, never writable.</summary>
    public uint WritePollEvents => Libc.EPOLLIN;
    public bool HoldsBackSenders => _inner.HoldsBackSenders;
    public long Dropped => _inner.Dropped;
    public long DroppedWhileBusOff => _inner.DroppedWhileBusOff + Volatile.Read(ref _rxLostWhileBusOff);

    /// <summary>A forced bus-off wins over the inner bus's state, except a link that is down.</summary>
    public CanBusState BusState
    {
        get
        {
            CanBusState inner = _inner.BusState;
            return inner != CanBusState.Down && _forcedBusOff ? CanBusState.BusOff : inner;
        }
    }

    /// <summary>Passed to the inner transport: its wake-ups from the handler's own thread reach the
    /// handler, whose read handler calls <see cref="Receive"/> here; whatever this layer holds back
    /// meanwhile is settled through the inner eventfd, which this layer's epoll watches.</summary>
    public void SetReadinessHandler(IReadinessHandler? handler) => _inner.SetReadinessHandler(handler);

    /// <summary>The rules in force, or about to be (any thread). Their seed is the one in use.</summary>
    public FaultRules Rules => Volatile.Read(ref _pendingRules) ?? _rules;

    /// <summary>Every fault injected so far (any thread; a moment old at most).</summary>
    public FaultCounts Counts => _counters.Snapshot();

    /// <summary>
    /// Any thread: <paramref name="rules"/> replace the current ones as a whole at the start of the device
    /// loop's next call (the loop is woken for it). Every-Nth counts, random streams and bus-off
    /// schedules start again from the new set; frames already delayed leave at their time, and a
    /// controller that is bus-off stays so until it recovers as it was told. Without a seed, one is
    /// chosen now and shows in <see cref="Rules"/>.
    /// </summary>
    public void ReplaceRules(FaultRules rules)
    {
        ArgumentNullException.ThrowIfNull(rules);
        if (rules.Seed is null) rules = rules with { Seed = (ulong)Random.Shared.NextInt64() };
        Volatile.Write(ref _pendingRules, rules);
        WakeLoop();
    }

    /// <summary>
    /// Any thread: the controller goes bus-off at the loop's next call, as after too many transmit
    /// errors, whatever the inner bus does. It recovers on the guest's restart
    /// (<paramref name="recoverAfter"/> null) or after that time. Counted with the rules' bus-offs.
    /// </summary>
    public void InjectBusOff(TimeSpan? recoverAfter = null)
    {
        Volatile.Write(ref _pendingBusOffRecovery, recoverAfter?.Ticks ?? -1);
        Volatile.Write(ref _busOffRequested, 1);
        WakeLoop();
    }

    /// <summary>True when nothing is configured, held or scheduled: calls go straight through.</summary>
    private bool Quiet => !_rules.IsActive && !_forcedBusOff && _txLine.Count == 0 && _rxLine.Count == 0 && _ownOutcomeCount == 0
        && !_txReleaseBlocked && !_rxInnerPaused && !_waitingForRoom;

    private void WakeLoop()
    {
        // Full fence after the request's publication; pairs with the exchange in TakeRequests.
        if (Interlocked.Exchange(ref _wakeSignalled, 1) != 0) return;
        _wake.SignalUnlessDisposed();
    }

    /// <summary>Loop thread: takes new rules and bus-off requests, fires what is due, releases due
    /// TX frames. Cheap when nothing is pending: two reads.</summary>
    private void Advance(long now)
    {
        if (Volatile.Read(ref _wakeSignalled) != 0) TakeRequests(now);
        if (_timerDue != long.MaxValue && now >= _timerDue)
        {
            // Disarmed before it is read, so an expiry a little after our clock's reading cannot
            // leave the fd readable with nothing to do.
            _timer.Disarm();
            _timer.Consume();
            _timerDue = long.MaxValue;
        }
        if (_busOffAt != 0 && now >= _busOffAt)
        {
            _busOffAt = 0;
            ForceBusOff(now, _rules.BusOff?.RecoverAfter);
        }
        if (_forcedBusOff && _recoverAt != 0 && now >= _recoverAt) Recover();
        if (_txLine.Count > 0) ReleaseTx(now);
    }

    private void TakeRequests(long now)
    {
        _wake.Consume();
        Interlocked.Exchange(ref _wakeSignalled, 0);
        if (Interlocked.Exchange(ref _pendingRules, null) is { } rules) Install(rules, now);
        if (Interlocked.Exchange(ref _busOffRequested, 0) != 0) ForceBusOff(now, Volatile.Read(ref _pendingBusOffRecovery) is long recovery and >= 0 ? TimeSpan.FromTicks(recovery) : null);
    }

    private void Install(FaultRules rules, long now)
    {
        if (rules.Seed is null) rules = rules with { Seed = (ulong)Random.Shared.NextInt64() };
        ulong seed = rules.Seed!.Value;
        _tx = new DirectionState(seed, 0);
        _rx = new DirectionState(seed, 1);
        _busOffFramesLeft = rules.BusOff?.AfterFrames ?? 0;
        _busOffAt = rules.BusOff?.At is { } at ? now + Ticks(at) : 0;
        _rules = rules;
        ScheduleTimer(now);
    }

    private void ForceBusOff(long now, TimeSpan? recoverAfter)
    {
        if (_forcedBusOff) return;
        _forcedBusOff = true;
        FaultCounters.Add(ref _counters.BusOffs);
        _recoverAt = recoverAfter is { } after ? Math.Max(now + Ticks(after), 1) : 0;
        // A controller off the bus loses what it still held, both ways.
        int lost = _txLine.Count + _rxLine.Count;
        if (lost > 0)
        {
            FaultCounters.Add(ref _counters.LostWhileBusOff, lost);
            Volatile.Write(ref _rxLostWhileBusOff, _rxLostWhileBusOff + _rxLine.Count);
        }
        _txLine.Clear();
        _rxLine.Clear();
        SetTxReleaseBlocked(false);
        ResumeInnerReceive();
        SignalRoom();
        ScheduleTimer(now);
    }

    private void Recover()
    {
        _forcedBusOff = false;
        _recoverAt = 0;
        FaultCounters.Add(ref _counters.Recoveries);
    }

    /// <summary>The guest restarts its controller: a bus-off that waits for the restart ends; a timed
    /// one goes on until its time. The inner transport is restarted if it is bus-off itself.</summary>
    public void Restart()
    {
        if (_forcedBusOff && _recoverAt == 0) Recover();
        if (_inner.BusState == CanBusState.BusOff) _inner.Restart();
    }

    /// <summary>Arms the timer for the earliest of: the next delayed frame, bus-off, recovery. Only a
    /// changed deadline costs a system call.</summary>
    private void ScheduleTimer(long now)
    {
        long due = long.MaxValue;
        if (_txLine.Count > 0 && !_txReleaseBlocked) due = _txLine.FrontDue;
        if (_rxLine.Count > 0) due = Math.Min(due, _rxLine.FrontDue);
        if (_busOffAt != 0) due = Math.Min(due, _busOffAt);
        if (_forcedBusOff && _recoverAt != 0) due = Math.Min(due, _recoverAt);
        if (due == _timerDue) return;
        _timerDue = due;
        if (due == long.MaxValue) _timer.Disarm();
        else _timer.Arm(TimeSpan.FromSeconds(Math.Max(due - now, 0) / (double)Stopwatch.Frequency));
    }

    private static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

    private void DisposeOwnFds()
    {
        _readable.Dispose();
        _writable.Dispose();
        _timer.Dispose();
        _wake.Dispose();
        _room.Dispose();
    }

    /// <summary>Closes this layer's fds and the inner transport.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        DisposeOwnFds();
        _inner.Dispose();
    }

    public override string ToString() => $"faults: {Rules}; {Counts}";
}
