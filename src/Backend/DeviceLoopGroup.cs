using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Backend;

/// <summary>
/// Several <see cref="DeviceEventLoop"/>s served by one thread: devices that pass frames to each
/// other (the guests of one virtual bus) then hand a frame on within one turn. The loops' fds all
/// sit in the group's one epoll set, each token tagged with its loop, so the thread sleeps in one
/// epoll_wait and learns from it which loops have work and what; what one loop's turn made ready in
/// another (a frame published into a member's inbox) is posted to that loop on this thread and
/// handled in the same wake-up, without its eventfd (<see cref="DeviceEventLoop.RunAfterThisEvent"/>).
/// A frame from guest A to guest B thus costs the daemon one wake-up (A's kick) instead of two
/// (A's loop, then B's loop), and no system call beyond the one epoll_wait, A's kick and the two
/// guests' calls.
/// </summary>
/// <remarks>
/// Every loop's work stays what it was, one loop at a time, on one thread: a device never sees
/// two threads. The price is that one thread does the work of all the group's devices, so they
/// share one core; and a front-end's requests are handled on the thread that carries the others'
/// frames, which is why a session's sends never wait for a peer that does not read
/// (<see cref="DeviceEventLoop.SharedThread"/>). Idle, the thread sleeps: no timer, no polling
/// unless <see cref="BusyPoll"/> asks for it.
/// </remarks>
public sealed class DeviceLoopGroup : IDisposable
{
    /// <summary>Linux keeps 15 bytes of a thread's name.</summary>
    public const int MaxThreadNameBytes = 15;

    private readonly Epoll _epoll = new();
    private readonly EventFd _exit = new();
    private readonly Lock _membershipLock = new();
    private readonly ILogger _logger;
    private readonly Thread _thread;
    private Member[] _members = [];
    // The group's thread only: loops with deferred events, in the order they first asked. Sized
    // for many loops, so that queueing allocates nothing.
    private readonly Queue<DeviceEventLoop> _deferredLoops = new(64);
    private ulong _nextToken = 1;
    private volatile bool _stopRequested;
    private long _sleepingWaits;
    private long _pollingWaits;
    private bool _started;

    private sealed class Member(DeviceEventLoop loop, ulong token)
    {
        public DeviceEventLoop Loop { get; } = loop;
        public ulong Token { get; } = token;
        public ManualResetEventSlim Left { get; } = new();

        /// <summary>Its last turn has begun (under the membership lock).</summary>
        public bool Retiring { get; set; }
    }

    /// <summary>A group whose thread is called <paramref name="threadName"/> (cut to
    /// <see cref="MaxThreadNameBytes"/> bytes). The thread starts with the first loop.</summary>
    public DeviceLoopGroup(string threadName, ILogger logger)
    {
        _logger = logger;
        ThreadName = Truncate(threadName, MaxThreadNameBytes);
        _epoll.Add(_exit.Fd, 0);
        _thread = new Thread(Run) { Name = ThreadName, IsBackground = true };
    }

    public string ThreadName { get; }

    /// <summary>See <see cref="DeviceEventLoop.BusyPoll"/>; for the group's thread.</summary>
    public TimeSpan BusyPoll { get; init; }

    /// <summary>Times the group's thread slept in epoll_wait until a loop had an event.</summary>
    public long SleepingWaits => Volatile.Read(ref _sleepingWaits);

    /// <summary>Times it asked without sleeping: only while busy polling.</summary>
    public long PollingWaits => Volatile.Read(ref _pollingWaits);

    /// <summary>Loops served now.</summary>
    public int Count => Volatile.Read(ref _members).Length;

    /// <summary>
    /// Serves <paramref name="loop"/> from now on. Any thread; the loop must not be run elsewhere.
    /// Its device is attached here, before the group's thread can see the loop.
    /// </summary>
    public void Add(DeviceEventLoop loop)
    {
        ObjectDisposedException.ThrowIf(_stopRequested, this);
        loop.Begin();
        lock (_membershipLock)
        {
            var member = new Member(loop, _nextToken++);
            Member[] members = [.. _members, member];
            // Release: the member is complete before the group's thread can read it.
            Volatile.Write(ref _members, members);
            // Its fds join the group's set only now, so that the thread finds the loop among
            // its members for every event it reports.
            loop.JoinGroup(_epoll, member.Token);
            // Only now may its device take wake-ups on the group's thread without its eventfd
            // (RunAfterThisEvent): the thread then finds the loop among its members.
            loop.DeferredEventsPending = _deferredLoops.Enqueue;
            loop.ServingThreadId = _thread.ManagedThreadId;
            if (!_started)
            {
                _started = true;
                _thread.Start();
            }
        }
    }

    /// <summary>
    /// Waits up to <paramref name="timeout"/> for <paramref name="loop"/>, asked to stop with
    /// <see cref="DeviceEventLoop.Stop"/>, to have finished its last turn and left the group (its
    /// front-end let go, as when its own thread ends). False if it has not.
    /// </summary>
    public bool WaitForExit(DeviceEventLoop loop, TimeSpan timeout)
    {
        Member? member = Array.Find(Volatile.Read(ref _members), m => ReferenceEquals(m.Loop, loop));
        return member is null || member.Left.Wait(timeout);
    }

    private void Run()
    {
        Span<Libc.EpollEvent> ready = stackalloc Libc.EpollEvent[DeviceEventLoop.EventBatch];
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[DeviceEventLoop.EventBatch];
        long pollTicks = BusyPoll > TimeSpan.Zero ? (long)(BusyPoll.TotalSeconds * Stopwatch.Frequency) : 0;
        long pollUntil = 0;
        while (!_stopRequested)
        {
            bool polling = pollTicks != 0 && Stopwatch.GetTimestamp() < pollUntil;
            int count = _epoll.Wait(ready, polling ? 0 : -1);
            // Written by this thread only; other threads just read them.
            if (polling) Volatile.Write(ref _pollingWaits, _pollingWaits + 1);
            else Volatile.Write(ref _sleepingWaits, _sleepingWaits + 1);
            if (count > 0 && pollTicks != 0) pollUntil = Stopwatch.GetTimestamp() + pollTicks;
            HandleEvents(ready[..count], events);
            RunDeferredEvents();
        }
    }

    /// <summary>
    /// Gives each loop with events in <paramref name="ready"/> one turn with all of its events, in
    /// the order of its first: a loop handles a batch as on its own thread (a front-end's hang-up
    /// before the next connection on its listener). <paramref name="scratch"/> holds one loop's
    /// events with their tags taken off.
    /// </summary>
    private void HandleEvents(Span<Libc.EpollEvent> ready, Span<Libc.EpollEvent> scratch)
    {
        for (int i = 0; i < ready.Length && !_stopRequested; i++)
        {
            ulong tag = ready[i].Data >> WatchedFds.TagShift;
            // The exit eventfd (0), or a loop's events already handled (marked 0 below).
            if (tag == 0) continue;
            int count = 0;
            for (int j = i; j < ready.Length; j++)
            {
                if (ready[j].Data >> WatchedFds.TagShift != tag) continue;
                scratch[count++] = new Libc.EpollEvent { Events = ready[j].Events, Data = ready[j].Data & WatchedFds.TokenMask };
                ready[j].Data = 0;
            }
            // Acquire: pairs with the release in Add. A loop retired earlier in this batch is gone.
            Member? member = Find(Volatile.Read(ref _members), tag);
            if (member is null) continue;
            if (member.Loop.StopRequested) Retire(member);
            else member.Loop.Turn(scratch[..count]);
        }
    }

    /// <summary>
    /// What a turn made ready in another loop of this thread (a frame published into a member's
    /// inbox) was posted to that loop instead of its eventfd: served now, in the same wake-up, with
    /// no system call, loop by loop in the order they were asked, so that a receiver's delivery
    /// posted during a sender's turn comes before what the sender put off until after it (its
    /// guest's TX-completion signal). Anything else a turn made ready (an eventfd or timer another
    /// way) is in the group's epoll set, so the next epoll_wait returns at once without sleeping.
    /// </summary>
    private void RunDeferredEvents()
    {
        while (!_stopRequested && _deferredLoops.TryDequeue(out DeviceEventLoop? loop))
        {
            Member? member = Find(Volatile.Read(ref _members), loop);
            if (member is null) continue;
            if (loop.StopRequested) Retire(member);
            else loop.RunDeferredEvents();
        }
    }

    private static Member? Find(Member[] members, ulong token)
    {
        foreach (Member member in members)
            if (member.Token == token) return member;
        return null;
    }

    private static Member? Find(Member[] members, DeviceEventLoop loop)
    {
        foreach (Member member in members)
            if (ReferenceEquals(member.Loop, loop)) return member;
        return null;
    }

    /// <summary>Group thread (or after it ended): the loop's last turn, as at the end of its own thread.</summary>
    private void Retire(Member member)
    {
        lock (_membershipLock)
        {
            if (member.Retiring || Array.IndexOf(_members, member) < 0) return;
            member.Retiring = true;
        }
        try
        {
            member.Loop.End();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _logger.LogError(e, "{Name}: letting the front-end go failed", member.Loop.Name);
        }
        // Whatever it still watches leaves the group's set; events of it already taken find no member.
        member.Loop.LeaveGroup();
        // No longer served here: later wake-ups go through the eventfd again.
        member.Loop.ServingThreadId = 0;
        member.Loop.DeferredEventsPending = null;
        // Only now, with its last turn over: WaitForExit finds the member until then, so nobody
        // disposes the loop while this thread still lets its front-end go.
        lock (_membershipLock)
            Volatile.Write(ref _members, [.. _members.Where(m => !ReferenceEquals(m, member))]);
        member.Left.Set();
    }

    private static string Truncate(string name, int maxBytes)
    {
        if (Encoding.UTF8.GetByteCount(name) <= maxBytes) return name;
        int length = name.Length;
        while (length > 0 && (Encoding.UTF8.GetByteCount(name.AsSpan(0, length)) > maxBytes || char.IsHighSurrogate(name[length - 1])))
            length--;
        return name[..length];
    }

    /// <summary>Stops the thread; loops still in the group get their last turn here. Dispose the
    /// loops themselves afterwards.</summary>
    public void Dispose()
    {
        bool started;
        lock (_membershipLock)
        {
            if (_stopRequested) return;
            _stopRequested = true;
            started = _started;
        }
        _exit.Signal();
        if (started) _thread.Join();
        foreach (Member member in Volatile.Read(ref _members)) Retire(member);
        _epoll.Dispose();
        _exit.Dispose();
    }
}
