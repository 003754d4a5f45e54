using System.Diagnostics;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Can;

/// <summary>A frame a timed bus member has handed to its controller, waiting for the wire.</summary>
internal struct TxOffer
{
    public CanFrame Frame;
    public TxTag Tag;
    /// <summary><see cref="Stopwatch"/> time of the offer: it may take part in arbitrations from then on.</summary>
    public long OfferedAt;
}

/// <summary>Sees each frame as it leaves the wire, with its bus-clock times (tests).</summary>
internal delegate void WireObserver(VirtualCanBusMember sender, in CanFrame frame, long offeredAt, long start, long end);

/// <summary>
/// The wire of a timed <see cref="VirtualCanBus"/>: one thread that plays the bus's arbitration
/// and occupancy. Whenever the wire is free it picks, among the oldest offered frame of each
/// member, the one with the lowest <see cref="CanWireTime.ArbitrationKey"/>; that frame holds the
/// wire for its wire time and then reaches every other member (with the bus's back-pressure and
/// overrun rules), and its sender gets a confirmed <see cref="TxOutcome"/>.
/// </summary>
/// <remarks>
/// Time is kept on a virtual bus clock: a frame starts when the wire became free (the previous
/// frame's computed end) or, on an idle wire, when it was offered, and it ends its wire time
/// later. A late wake-up therefore delivers every frame whose end has passed at once and errors
/// never accumulate: over many frames the mean gap is the computed one, and a single frame is
/// late by at most the thread's wake-up delay, never early. Only a wire held back by a full inbox
/// restarts its clock from the moment it could deliver, so that a stall is not followed by a burst.
/// The thread sleeps in epoll on an eventfd (offers to an idle wire, drains a stalled wire waits
/// for) and a timer fd (the end of the frame on the wire): no CPU while the bus is idle, one
/// timer per frame while it is busy, and nothing allocated per frame.
/// </remarks>
internal sealed class TimedWire : IDisposable
{
    private const ulong KickToken = 0;
    private const ulong TimerToken = 1;

    private readonly VirtualCanBus _bus;
    private readonly BusTiming _timing;
    private readonly EventFd _kick = new();
    private readonly TimerFd _timer = new();
    private readonly Epoll _epoll = new();
    private readonly Thread _thread;
    private readonly long _createdAt = Stopwatch.GetTimestamp();
    private volatile bool _stopping;
    // 1 while the wire has nothing to send and waits for a kick (so from the start); an offer that
    // swaps it to 0 kicks.
    private int _idle = 1;

    // Wire thread only: the frame on the wire and the bus clock.
    private bool _onWire;
    private CanFrame _frame;
    private TxTag _tag;
    private long _offeredAt;
    private long _start;
    private VirtualCanBusMember? _sender;
    private long _end;
    private long _ticks;
    private bool _stalled;
    private long _freeAt;

    // Written by the wire thread, read from anywhere.
    private long _busyTicks;
    private long _frames;
    private long _windowStart;
    private long _windowBusy;
    private long _lastWindowBusy;

    public TimedWire(VirtualCanBus bus, BusTiming timing)
    {
        _bus = bus;
        _timing = timing;
        _epoll.Add(_kick.Fd, KickToken);
        _epoll.Add(_timer.Fd, TimerToken);
        // Named for the bus (Linux keeps 15 characters), so that top -H tells the buses apart.
        string name = "vbus:" + bus.Name;
        _thread = new Thread(Run) { IsBackground = true, Name = name.Length > 15 ? name[..15] : name };
        _thread.Start();
    }

    /// <summary>Called on the wire thread for each delivered frame; set before traffic starts.</summary>
    public WireObserver? Observer { get; set; }

    /// <summary>Wire time of the frames delivered so far.</summary>
    public TimeSpan BusyTime => TimeSpan.FromSeconds((double)Volatile.Read(ref _busyTicks) / Stopwatch.Frequency);

    /// <summary>Frames that went over the wire.</summary>
    public long Frames => Volatile.Read(ref _frames);

    /// <summary>Busy wire time over the time since the bus was created, 0 to 1.</summary>
    public double LoadSinceStart
    {
        get
        {
            long elapsed = Stopwatch.GetTimestamp() - _createdAt;
            return elapsed <= 0 ? 0 : Math.Min(1, (double)Volatile.Read(ref _busyTicks) / elapsed);
        }
    }

    /// <summary>Busy wire time in the last whole second of bus time (frames counted in the second they
    /// end in), 0 to 1; 0 when no frame ended in it.</summary>
    public double LoadLastSecond
    {
        get
        {
            long start = Volatile.Read(ref _windowStart);
            if (start == 0) return 0;
            long second = Stopwatch.Frequency;
            long elapsed = Stopwatch.GetTimestamp() - start;
            long busy = elapsed >= 2 * second ? 0 : elapsed >= second ? Volatile.Read(ref _windowBusy) : Volatile.Read(ref _lastWindowBusy);
            return Math.Min(1, (double)busy / second);
        }
    }

    /// <summary>A member's thread, after offering frames: wakes the wire if it sleeps idle.</summary>
    public void Offered()
    {
        // A full fence after the offer's publication; pairs with the one in GoIdle.
        if (Interlocked.CompareExchange(ref _idle, 0, 1) == 1) Kick();
    }

    /// <summary>Any thread: look again (a member drained or left, so a stalled wire may deliver).</summary>
    public void Kick()
    {
        if (!_stopping) _kick.Signal();
    }

    private void Run()
    {
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[2];
        while (!_stopping)
        {
            int count = _epoll.Wait(events);
            for (int i = 0; i < count; i++)
            {
                if (events[i].Data == KickToken) _kick.Consume();
                else _timer.Consume();
            }
            if (!_stopping) Advance();
        }
    }

    /// <summary>Delivers every frame whose end has passed, starts the next ones, and arms the timer
    /// for the frame still on the wire (or a stalled delivery's retry), or goes idle.</summary>
    private void Advance()
    {
        long now = Stopwatch.GetTimestamp();
        while (true)
        {
            if (_onWire)
            {
                if (_end > now)
                {
                    ArmFor(_end - now);
                    return;
                }
                if (!_bus.PublishFromWire(_sender!, in _frame, now, out long retryAt))
                {
                    _stalled = true;
                    now = Stopwatch.GetTimestamp();
                    if (retryAt <= now) continue;
                    ArmFor(retryAt - now);
                    return;
                }
                Complete(now);
            }
            if (!Arbitrate() && GoIdle()) return;
        }
    }

    // Rounded up: a wake-up before the deadline would only find the frame still on the wire.
    private void ArmFor(long ticks) =>
        _timer.Arm(TimeSpan.FromTicks(Math.Max(1, (ticks * TimeSpan.TicksPerSecond + Stopwatch.Frequency - 1) / Stopwatch.Frequency)));

    private void Complete(long now)
    {
        _freeAt = _stalled ? now : _end;
        _stalled = false;
        _onWire = false;
        var sender = _sender!;
        _sender = null;
        Account(_freeAt, _ticks);
        Observer?.Invoke(sender, in _frame, _offeredAt, _start, _end);
        sender.Report(new TxOutcome(_tag, Confirmed: true));
    }

    /// <summary>Starts the next frame, if any member offers one: the arbitration among the frames
    /// offered by the time the wire is free (or, idle, by the time of the oldest offer).</summary>
    private bool Arbitrate()
    {
        var members = _bus.Members;
        long oldest = long.MaxValue;
        foreach (var member in members)
        {
            if (member.PeekOffer(out long offeredAt, out _)) oldest = Math.Min(oldest, offeredAt);
        }
        if (oldest == long.MaxValue) return false;
        long start = Math.Max(oldest, _freeAt);
        VirtualCanBusMember? winner = null;
        uint best = 0;
        foreach (var member in members)
        {
            // Ties (two members, one identifier: an error on a real bus) go to the earlier member.
            if (member.PeekOffer(out long offeredAt, out uint key) && offeredAt <= start && (winner is null || key < best))
            {
                winner = member;
                best = key;
            }
        }
        winner!.TakeOffer(out _frame, out _tag, out _offeredAt);
        _sender = winner;
        _ticks = _timing.WireTicks(in _frame);
        _start = start;
        _end = start + _ticks;
        _onWire = true;
        return true;
    }

    /// <summary>Nothing offered: sleep until an offer kicks. False when an offer came in meanwhile.</summary>
    private bool GoIdle()
    {
        // A full fence before looking again; pairs with the one in Offered, so an offer made
        // now is either seen below or kicks.
        Interlocked.Exchange(ref _idle, 1);
        foreach (var member in _bus.Members)
        {
            if (!member.PeekOffer(out _, out _)) continue;
            // Ours again (no kick will come), or the offerer's kick is on its way: either way, go on.
            Interlocked.Exchange(ref _idle, 0);
            return false;
        }
        return true;
    }

    private void Account(long end, long ticks)
    {
        long second = Stopwatch.Frequency;
        if (_windowStart == 0) Volatile.Write(ref _windowStart, end - ticks);
        long elapsed = end - _windowStart;
        if (elapsed >= second)
        {
            long windows = elapsed / second;
            Volatile.Write(ref _lastWindowBusy, windows == 1 ? _windowBusy : 0);
            Volatile.Write(ref _windowBusy, 0);
            Volatile.Write(ref _windowStart, _windowStart + windows * second);
        }
        Volatile.Write(ref _windowBusy, _windowBusy + ticks);
        Volatile.Write(ref _busyTicks, _busyTicks + ticks);
        Volatile.Write(ref _frames, _frames + 1);
    }

    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        _kick.Signal();
        _thread.Join();
        _epoll.Dispose();
        _timer.Dispose();
        _kick.Dispose();
    }
}
