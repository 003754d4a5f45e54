using System.Diagnostics;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Interop;
using VhostDeviceCan.Virtqueue;

namespace VhostDeviceCan.Backend;

/// <summary>
/// Serves one device on one listening socket: one thread blocked in epoll_wait on the listener
/// (while no front-end is connected), the connection, every kick eventfd, the device's own fds and
/// an exit eventfd. One front-end at a time, each a <see cref="BackendSession"/>; when it leaves,
/// the session is disposed (which resets the device) and the next one is accepted. No timers and
/// no thread per queue; it polls only when asked to (<see cref="BusyPoll"/>), and only for a
/// moment after each event.
/// </summary>
public sealed partial class DeviceEventLoop : IDeviceContext, IDisposable
{
    /// <summary>Tokens below this belong to the runtime: kick fds use the queue index, then exit,
    /// listener, connection, a refused connection, liveness and requests from other threads.</summary>
    public const ulong FirstDeviceToken = 1UL << 32;

    private readonly IVhostUserDevice _device;
    private readonly UnixSocket _listener;
    private readonly WatchedFds _fds = new();
    private readonly EventFd _exit = new();
    private readonly ulong _exitToken;
    private readonly ulong _listenerToken;
    private readonly ulong _connectionToken;
    private readonly ulong _refusedToken;
    private readonly ulong _livenessToken;
    private readonly ulong _requestToken;
    /// <summary>Written by a supervisor to ask the loop to prove it still turns (<see cref="RequestLivenessAck"/>).</summary>
    private readonly EventFd _liveness = new();
    private long _livenessAcks;
    /// <summary>What a device sees while no front-end is connected: rings that never start.</summary>
    private readonly Vring[] _idleRings;
    private volatile bool _stopRequested;
    private volatile BackendSession? _session;
    private long _sleepingWaits;
    private long _pollingWaits;

    public DeviceEventLoop(IVhostUserDevice device, UnixSocket listener, ILogger logger, string name = "device")
    {
        _device = device;
        _listener = listener;
        Logger = logger;
        Name = name;
        _idleRings = new Vring[device.QueueCount];
        for (int i = 0; i < _idleRings.Length; i++) _idleRings[i] = new Vring(i, device.MaxQueueSize, logger);
        _exitToken = (ulong)device.QueueCount;
        _listenerToken = _exitToken + 1;
        _connectionToken = _exitToken + 2;
        _refusedToken = _exitToken + 3;
        _livenessToken = _exitToken + 4;
        _requestToken = _exitToken + 5;
        _listener.Descriptor.SetNonBlocking(true);
        _fds.Add(_exit.Fd, _exitToken);
        _fds.Add(_liveness.Fd, _livenessToken);
        _fds.Add(_requestSignal.Fd, _requestToken);
        _fds.Add(_listener.Fd, _listenerToken);
    }

    public string Name { get; }
    public ILogger Logger { get; }

    /// <summary>
    /// How long the loop keeps asking epoll without sleeping after an event. Waking a sleeping
    /// thread costs the scheduler tens of microseconds on some hosts, paid once per hop of a
    /// frame; a loop still polling sees the next kick or bus frame at once. The price is CPU
    /// while traffic flows; an idle device sleeps as before. Zero (the default) never polls.
    /// </summary>
    public TimeSpan BusyPoll { get; init; }

    /// <summary>
    /// Accept guest memory whose file can still shrink (not sealable: a memfd without
    /// MFD_ALLOW_SEALING, a tmpfs or hugetlbfs file). Such a front-end can kill the whole process
    /// with SIGBUS by shrinking it, so by default its memory table is refused (see
    /// <see cref="GuestMemorySeals"/>). False (the default) refuses it.
    /// </summary>
    public bool AllowUnsealedMemory { get; init; }

    /// <summary>
    /// The loop runs on a <see cref="DeviceLoopGroup"/>'s thread, which carries other devices'
    /// frames too: a front-end must not hold it. Replies to a front-end that does not read them
    /// end its connection at once instead of waiting for room in its socket, and a message must
    /// arrive whole within <see cref="SharedMessageTimeout"/> instead of two seconds.
    /// </summary>
    public bool SharedThread { get; init; }

    /// <summary>How long a message may take to arrive whole on a shared thread. A front-end writes
    /// each message with one sendmsg, so the rest of a message is there at once or never; the
    /// bound allows for a slow host (User-Mode Linux, a loaded CI machine) where "at once" took
    /// more than 20 ms, and stays far below what would stall the bus's other guests noticeably.</summary>
    public static readonly TimeSpan SharedMessageTimeout = TimeSpan.FromMilliseconds(200);

    /// <summary>Times the loop slept in epoll_wait until an event (for tests and diagnostics).</summary>
    public long SleepingWaits => Volatile.Read(ref _sleepingWaits);

    /// <summary>Times the loop polled epoll without sleeping (<see cref="BusyPoll"/>).</summary>
    public long PollingWaits => Volatile.Read(ref _pollingWaits);

    /// <summary>
    /// Runs on the loop thread right after a front-end's first message and right after it is gone, so a
    /// supervisor can report how many guests are attached. It must not block; what it throws is
    /// logged and the loop goes on.
    /// </summary>
    public Action<DeviceEventLoop>? ConnectionChanged { get; init; }

    /// <summary>How many liveness requests the loop has answered; it answers from its own thread,
    /// between events, so a count that stops growing means the loop is stuck.</summary>
    public long LivenessAcks => Volatile.Read(ref _livenessAcks);

    /// <summary>Asks the loop to bump <see cref="LivenessAcks"/> at its next turn; any thread.
    /// A service watchdog pings only when every loop answered, not merely because a timer ran.</summary>
    public void RequestLivenessAck() => _liveness.Signal();

    /// <summary>Number of front-ends served so far (for logs and tests): connections that sent a
    /// message, not those that closed without one (<see cref="BackendSession.HasSpoken"/>).</summary>
    public int SessionCount { get; private set; }

    public bool IsConnected => _session is not null;

    /// <summary>Whether a front-end is attached that has sent a message: a probe that connects and
    /// closes without one is no guest (what <see cref="ConnectionChanged"/> reports).</summary>
    public bool HasFrontend => _session is { HasSpoken: true };
    /// <summary>The attached front-end's process (SO_PEERCRED when it connected), null while none
    /// has spoken; any thread.</summary>
    public PeerIdentity? Frontend => _session is { HasSpoken: true } session ? session.Identity : null;
    public GuestMemory Memory => _session?.Memory ?? GuestMemory.Empty;
    public ulong AckedFeatures => _session?.AckedFeatures ?? 0;
    public bool IsActive => _session?.IsActive ?? false;
    public Vring Queue(int index) => _session is { } session ? session.Queue(index) : _idleRings[index];
    public bool NotifyConfigChanged() => _session?.NotifyConfigChanged() ?? false;

    /// <summary>Asks <see cref="Run"/> to return; safe from any thread and from signal handlers.</summary>
    public void Stop()
    {
        _stopRequested = true;
        _exit.Signal();
    }

    /// <summary>Runs the loop on the calling thread until <see cref="Stop"/>.</summary>
    public void Run()
    {
        ServingThreadId = Environment.CurrentManagedThreadId;
        Begin();
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[EventBatch];
        long pollTicks = BusyPoll > TimeSpan.Zero ? (long)(BusyPoll.TotalSeconds * Stopwatch.Frequency) : 0;
        long pollUntil = 0;
        while (!_stopRequested)
        {
            bool polling = pollTicks != 0 && Stopwatch.GetTimestamp() < pollUntil;
            int count = _fds.Wait(events, polling ? 0 : -1);
            // Written by this thread only; other threads just read them.
            if (polling) Volatile.Write(ref _pollingWaits, _pollingWaits + 1);
            else Volatile.Write(ref _sleepingWaits, _sleepingWaits + 1);
            if (count > 0 && pollTicks != 0) pollUntil = Stopwatch.GetTimestamp() + pollTicks;
            Dispatch(events[..count]);
            RunDeferredEvents();
        }
        End();
    }

    /// <summary>Events taken from this loop's epoll set per turn.</summary>
    internal const int EventBatch = 32;

    /// <summary>Whether <see cref="Stop"/> was asked.</summary>
    internal bool StopRequested => _stopRequested;

    /// <summary>First thing on the thread that serves the loop, before any turn.</summary>
    internal void Begin() => _device.Attach(this);

    /// <summary>Before a <see cref="DeviceLoopGroup"/>'s thread serves the loop: its fds move into
    /// the group's epoll set, their tokens tagged with <paramref name="tag"/>.</summary>
    internal void JoinGroup(Epoll set, ulong tag) => _fds.JoinGroup(set, tag);

    /// <summary>After its last turn in a group: its fds move back into its own set.</summary>
    internal void LeaveGroup() => _fds.LeaveGroup();

    /// <summary>One turn on a group's thread: the events the group's epoll set reported for this
    /// loop, tags already taken off.</summary>
    internal void Turn(Span<Libc.EpollEvent> events)
    {
        if (!_stopRequested) Dispatch(events);
    }

    /// <summary>Last thing on the thread that served the loop: the front-end is let go.</summary>
    internal void End()
    {
        if (IsLoopThread) RunDeferredEvents();
        if (_session is not null) DropSession("the daemon is shutting down");
    }

    private void Dispatch(Span<Libc.EpollEvent> events)
    {
        bool listenerReadable = false;
        for (int i = 0; i < events.Length && !_stopRequested; i++)
        {
            ulong token = events[i].Data;
            if (token < _exitToken) _session?.OnKick((int)token);
            else if (token == _connectionToken) OnConnectionReadable(events[i].Events);
            else if (token == _listenerToken) listenerReadable = true;
            else if (token == _livenessToken) AcknowledgeLiveness();
            else if (token == _refusedToken) OnRefusedReadable();
            else if (token == _requestToken) RunRequests();
            else if (token >= FirstDeviceToken) RunDeviceEvent(token, events[i].Events);
        }
        // Last, so that a front-end that left just before the next one came is gone by then.
        if (listenerReadable && !_stopRequested) OnListenerReadable();
    }

    private void OnListenerReadable()
    {
        if (_session is not null && !FinishLeavingFrontend())
        {
            if (_session.HasSpoken)
            {
                RefuseBusy();
                return;
            }
            // A connection that never said a word holds no front-end's state: it must not keep
            // the socket from the one that comes next.
            DropSession("a newer connection came");
        }
        UnixSocket? socket;
        try
        {
            socket = _listener.Accept();
        }
        catch (SyscallException e)
        {
            Logger.LogError("{Name}: {Reason}", Name, e.Message);
            return;
        }
        if (socket is null) return;
        _session = new BackendSession(socket, _device, _fds, _connectionToken, Logger, Name, SharedThread)
        {
            AllowUnsealedMemory = AllowUnsealedMemory,
            Spoke = OnFrontendSpoke,
        };
        Logger.LogDebug("{Name}: connection from {Peer}", Name, _session.Peer);
        WatchSilencedFds();
    }

    private void AcknowledgeLiveness()
    {
        _liveness.Consume();
        // Written by this thread only; the supervisor just reads it.
        Volatile.Write(ref _livenessAcks, _livenessAcks + 1);
    }

    private void OnConnectionChanged()
    {
        try
        {
            ConnectionChanged?.Invoke(this);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Logger.LogError(e, "{Name}: reporting the connection change failed", Name);
        }
    }

    /// <summary>A connection becomes a front-end's session with its first message; until then it
    /// may be a probe (another back-end checking the socket), which is no event worth an info line.</summary>
    private void OnFrontendSpoke()
    {
        SessionCount++;
        Logger.LogInformation("{Name}: front-end connected: {Peer} (session {Session})", Name, _session!.Peer, SessionCount);
        OnConnectionChanged();
    }

    private void OnConnectionReadable(uint events)
    {
        if (_session?.ServeRequest(events) is { } reason) DropSession(reason);
    }

    private void DropSession(string reason)
    {
        bool spoke = _session!.HasSpoken;
        if (spoke) Logger.LogInformation("{Name}: front-end disconnected: {Reason}", Name, reason);
        else Logger.LogDebug("{Name}: a connection from {Peer} ended without a message (probe?): {Reason}", Name, _session.Peer, reason);
        // The device may still use the session's rings and memory while it settles and resets.
        _session!.Dispose();
        _session = null;
        if (spoke) OnConnectionChanged();
    }

    /// <summary>Requests of an attached front-end served before a newcomer is turned away.</summary>
    private const int MaxRequestsBeforeAccept = 64;

    /// <summary>
    /// Handles what the connected front-end still has queued; true when that ends in its hang-up.
    /// A front-end that closes and reconnects at once (QEMU's reconnect) has its hang-up queued
    /// behind its last requests, before its next connection: it must not be taken for a second one.
    /// </summary>
    private bool FinishLeavingFrontend()
    {
        using var probe = new Epoll();
        probe.Add(_session!.SocketFd, 0, Libc.EPOLLIN | Libc.EPOLLRDHUP);
        Span<Libc.EpollEvent> ready = stackalloc Libc.EpollEvent[1];
        // Bounded: a front-end that keeps sending is not leaving, and must not keep this thread.
        for (int i = 0; i < MaxRequestsBeforeAccept && _session is not null && probe.Wait(ready, 0) > 0; i++) OnConnectionReadable(ready[0].Events);
        return _session is null;
    }

    public void Dispose()
    {
        if (_session is not null) DropSession("disposed");
        DisposeRefused();
        foreach (var ring in _idleRings) ring.Dispose();
        _fds.Dispose();
        _exit.Dispose();
        _liveness.Dispose();
        _requestSignal.Dispose();
    }
}
