using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Can;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>
/// A socketcand server (docs/spec/socketcand.md) whose one bus is a virtual bus. Each client that
/// opened the bus is a bus member of its own, so a frame from one client reaches the guests and
/// the other clients, never itself. The listener and every session share one thread and one
/// epoll: a session costs a few descriptors and its buffers, not a thread, and the work per frame
/// is a format or a parse, far below what one core can do for the number of sessions allowed.
/// </summary>
/// <remarks>
/// Back-pressure, as for the cannelloni bridge: towards a client, each session drains its
/// member at once into a bounded send queue (<see cref="SocketcandSession.OutputCapacity"/>); a
/// client that does not read loses frames (counted, logged once per session) and never holds the
/// bus back. From a client, a frame the bus has no room for stays in the session and its socket is
/// not read until the bus takes it: TCP then slows that client down, and only it.
/// Limits: <see cref="MaxSessions"/> sessions (more connections are told so and closed), an
/// element of at most socketcand's buffer size, <see cref="OpenTimeout"/> to open the bus, and
/// TCP keep-alive so that a client that vanished without a word is closed within about a minute.
/// </remarks>
public sealed partial class SocketcandBridge : BridgeThread<SocketcandSpec, SocketcandCounters>
{
    /// <summary>Clients at once. Each holds ~72 KiB of buffers (and the kernel at most twice its
    /// 64 KiB send buffer) and three descriptors.</summary>
    public const int MaxSessions = 32;

    /// <summary>A client that has not opened the bus after this long is closed, so idle
    /// connections cannot hold every slot.</summary>
    public static readonly TimeSpan OpenTimeout = TimeSpan.FromSeconds(10);

    private const ulong ListenerToken = 1, TimerToken = 2, SessionTokens = 8;
    private const ulong SocketKind = 0, BusKind = 1, RoomKind = 2;
    private const int FramesPerCall = 64;

    private readonly byte[] _busName;
    private readonly Socket _listener;
    private readonly TimerFd _openTimer = new();
    private readonly SocketcandSession?[] _sessions = new SocketcandSession?[MaxSessions];
    private readonly CanFrame[] _fromBus = new CanFrame[FramesPerCall];
    private readonly TxOutcome[] _outcomes = new TxOutcome[FramesPerCall];
    private int _sessionCount;
    private int _sessionNumber;
    private bool _openTimerArmed;
    private bool _reportedFull;

    // Sessions share the thread: more ready descriptors per wait than a bridge with one peer.
    private SocketcandBridge(SocketcandSpec spec, Socket listener, ILogger log, string threadName)
        : base(spec, new SocketcandCounters(), log, threadName, eventsPerWait: 16)
    {
        _busName = System.Text.Encoding.UTF8.GetBytes(spec.Bus);
        _listener = listener;
        BoundTo = (IPEndPoint)listener.LocalEndPoint!;
        _epoll.Add((int)listener.Handle, ListenerToken);
        _epoll.Add(_openTimer.Fd, TimerToken);
    }

    public override string Endpoint => $"socketcand listening on {MetricsAddress.Format(BoundTo)}, bus '{_spec.Bus}'";
    /// <summary>Whether a client has the bus open now.</summary>
    public override bool PeerUp => Sessions > 0;
    /// <summary>Where the listener is bound; the port the kernel chose when the spec gave 0.</summary>
    public IPEndPoint BoundTo { get; }
    public int Sessions => Volatile.Read(ref _sessionCount);

    /// <summary>Binds and listens, then starts the bridge's thread. Throws
    /// <see cref="SocketException"/> when the address cannot be bound.</summary>
    public static SocketcandBridge Start(SocketcandSpec spec, ILogger log, string threadName)
    {
        Socket listener = Listen(spec.Listen, 16);
        return Started(listener.Dispose, () =>
        {
            // The bus exists from now on, as it does for a guest's device or another bridge.
            VirtualCanBus.Get(spec.Bus);
            return new SocketcandBridge(spec, listener, log, threadName);
        });
    }

    public override string ToString() =>
        $"{_spec.Bus} <-> socketcand on {MetricsAddress.Format(BoundTo)}: {Sessions} session(s), {Counters}";

    private static ulong Token(SocketcandSession session, ulong kind) => SessionTokens + ((ulong)session.Slot << 2 | kind);

    private protected override void HandleEvent(ulong token, uint events)
    {
        switch (token)
        {
            case ListenerToken:
                AcceptAll();
                break;
            case TimerToken:
                _openTimer.Consume();
                _openTimerArmed = false;
                CloseUnopened();
                break;
            default:
                Dispatch(token - SessionTokens, events);
                break;
        }
    }

    // Members belong to this thread (VirtualCanBusMember.Dispose).
    private protected override void ThreadEnding()
    {
        foreach (var session in _sessions)
            if (session is not null) Close(session, "the daemon stops");
    }

    private protected override void ReleaseDescriptors()
    {
        _listener.Dispose();
        _openTimer.Dispose();
    }

    private void Dispatch(ulong token, uint events)
    {
        int slot = (int)(token >> 2);
        if (slot >= _sessions.Length || _sessions[slot] is not { } session) return;
        switch (token & 3)
        {
            case SocketKind:
                if ((events & (Libc.EPOLLERR | Libc.EPOLLHUP)) != 0)
                {
                    Close(session, "connection reset");
                    return;
                }
                if ((events & Libc.EPOLLOUT) != 0 && !FlushOrClose(session)) return;
                if ((events & Libc.EPOLLIN) != 0) ReadClient(session);
                break;
            case BusKind when session.Member is not null:
                DrainBus(session);
                break;
            case RoomKind when session.Member is not null:
                RetryPending(session);
                break;
        }
    }

    private void AcceptAll()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = _listener.Accept();
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.ConnectionAborted or SocketError.ConnectionReset)
            {
                if (e.SocketErrorCode == SocketError.WouldBlock) return;
                continue;
            }
            int slot = Array.IndexOf(_sessions, null);
            if (slot < 0)
            {
                RefuseFull(client);
                continue;
            }
            _reportedFull = false;
            string peer = client.RemoteEndPoint is IPEndPoint remote ? MetricsAddress.Format(remote) : "?";
            var session = new SocketcandSession(slot, ++_sessionNumber, client, peer);
            try
            {
                client.Blocking = false;
                client.NoDelay = true;
                // Bounds what the kernel holds for a client that does not read, next to the session's own queue.
                client.SendBufferSize = SocketcandSession.OutputCapacity;
                client.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
                client.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, 30);
                client.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 10);
                client.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 3);
                _epoll.Add(session.Fd, Token(session, SocketKind));
            }
            catch (SocketException)
            {
                client.Dispose();
                continue;
            }
            _sessions[slot] = session;
            Volatile.Write(ref _sessionCount, _sessionCount + 1);
            Counters.SessionUp();
            _log.LogInformation("bridge {Bridge}: {Session} up", _spec, session);
            // docs/spec/socketcand.md §2, docs/spec/socketcand.md §6: the greeting, alone and bare.
            session.Queue("< hi >"u8);
            if (!FlushOrClose(session)) continue;
            if (!_openTimerArmed)
            {
                _openTimer.Arm(OpenTimeout);
                _openTimerArmed = true;
            }
        }
    }

    private void RefuseFull(Socket client)
    {
        Counters.RefusedSession();
        if (!_reportedFull)
            _log.LogWarning("bridge {Bridge}: {Max} sessions already: further connections are refused (counted) until one ends", _spec, MaxSessions);
        _reportedFull = true;
        try
        {
            client.Blocking = false;
            client.Send("< error too many sessions >"u8, SocketFlags.None, out _);
        }
        finally
        {
            client.Dispose();
        }
    }

    /// <summary>Closes sessions that have not opened the bus within <see cref="OpenTimeout"/>; looks
    /// again when the oldest remaining one is due.</summary>
    private void CloseUnopened()
    {
        long now = Environment.TickCount64, limit = (long)OpenTimeout.TotalMilliseconds, nextDue = long.MaxValue;
        foreach (var session in _sessions)
        {
            if (session is not { Mode: SocketcandMode.NoBus }) continue;
            long age = now - session.AcceptedAt;
            if (age >= limit) Close(session, $"no bus opened within {OpenTimeout.TotalSeconds} s");
            else nextDue = Math.Min(nextDue, limit - age);
        }
        if (nextDue != long.MaxValue)
        {
            _openTimer.Arm(TimeSpan.FromMilliseconds(nextDue));
            _openTimerArmed = true;
        }
    }

    /// <summary>Writes what waits and watches EPOLLOUT while anything is left; false (and the
    /// session closed) when the connection failed.</summary>
    private bool FlushOrClose(SocketcandSession session)
    {
        if (!session.Flush())
        {
            Close(session, "connection lost");
            return false;
        }
        if (session.HasOutput != session.WatchingWrite)
        {
            session.WatchingWrite = session.HasOutput;
            WatchSocket(session);
        }
        return true;
    }

    /// <summary>Reads while the bus has room for what the client sends; writes while output waits.</summary>
    private void WatchSocket(SocketcandSession session) =>
        _epoll.Modify(session.Fd, Token(session, SocketKind),
            (session.WaitingForRoom ? 0 : Libc.EPOLLIN) | (session.WatchingWrite ? Libc.EPOLLOUT : 0));

    private void Close(SocketcandSession session, string reason)
    {
        if (_sessions[session.Slot] != session) return;
        _sessions[session.Slot] = null;
        Volatile.Write(ref _sessionCount, _sessionCount - 1);
        Counters.SessionDown();
        _log.LogInformation("bridge {Bridge}: {Session} down: {Reason}", _spec, session, reason);
        if (session.Member is { } member)
        {
            if (session.WaitingForRoom) _epoll.Remove(member.WritePollFd);
            _epoll.Remove(member.PollFd);
            member.Dispose();
        }
        // Closing the socket takes it out of the epoll set.
        session.Socket.Dispose();
    }
}
