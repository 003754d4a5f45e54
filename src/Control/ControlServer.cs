using System.Diagnostics;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Control;

/// <summary>Bounds that keep any number of hostile clients from costing more than a little memory.</summary>
public sealed record ControlServerLimits
{
    /// <summary>Clients at once; one more is told so and closed.</summary>
    public int MaxClients { get; init; } = 16;

    /// <summary>Replies a client may leave unread before it is dropped (it stopped reading).</summary>
    public int MaxPendingReplyBytes { get; init; } = 1024 * 1024;

    /// <summary>A client that sends no whole request for this long is dropped, so silent connections
    /// cannot hold every slot. A client waiting between requests just reconnects.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// The control socket: a listening Unix socket served by one thread of its own, blocked in epoll on
/// the listener, every client and an exit eventfd. Everything is non-blocking, so a client that
/// sends half a line or stops reading never stalls the others, and the device loops never wait for
/// this thread (it waits for them, bounded: <see cref="ControlGuest.OnLoop"/>). Requests are
/// answered in order, one reply line per request line, by <see cref="ControlCommands"/>.
/// </summary>
public sealed class ControlServer : IDisposable
{
    private const ulong ExitToken = 0, ListenerToken = 1, CompletionToken = 2, FirstClientToken = 3;

    private readonly UnixSocket _listener;
    private readonly string? _path;
    private readonly ControlCommands _commands;
    private readonly ControlContext _context;
    private readonly ControlServerLimits _limits;
    private readonly ILogger _logger;
    private readonly Epoll _epoll = new();
    private readonly EventFd _exit = new();
    private readonly EventFd _completions = new();
    private readonly ControlConnection?[] _clients;
    private readonly Thread _thread;
    private volatile bool _stopRequested;
    private bool _disposed;

    private ControlServer(UnixSocket listener, string? path, ControlCommands commands, ControlContext context, ControlServerLimits limits, ILogger logger)
    {
        _listener = listener;
        _path = path;
        _commands = commands;
        _context = context;
        _limits = limits;
        _logger = logger;
        _clients = new ControlConnection?[limits.MaxClients];
        _listener.Descriptor.SetNonBlocking(true);
        _epoll.Add(_exit.Fd, ExitToken);
        _epoll.Add(_listener.Fd, ListenerToken);
        _epoll.Add(_completions.Fd, CompletionToken);
        _thread = new Thread(Run) { Name = "control", IsBackground = true };
        _thread.Start();
    }

    /// <summary>The socket file, or null for one served from an fd.</summary>
    public string? Path => _path;

    /// <summary>Clients connected now (for tests).</summary>
    public int ClientCount => _clients.Count(c => c is not null);

    /// <summary>Serves <paramref name="listener"/>, already bound and listening; the server owns it and
    /// removes <paramref name="path"/> (the file it is bound to, if any) on dispose.</summary>
    public static ControlServer Serve(UnixSocket listener, string? path, ControlCommands commands, ControlContext context, ILogger logger,
        ControlServerLimits? limits = null) => new(listener, path, commands, context, limits ?? new ControlServerLimits(), logger);

    private void Run()
    {
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[16];
        while (!_stopRequested)
        {
            int count;
            try
            {
                // With clients, wake once a second to drop idle ones; without, sleep.
                count = _epoll.Wait(events, ClientCount > 0 ? 1000 : -1);
            }
            catch (SyscallException e)
            {
                _logger.LogError("control: {Reason}; the control socket stops serving", e.Message);
                return;
            }
            for (int i = 0; i < count && !_stopRequested; i++)
            {
                ulong token = events[i].Data;
                if (token == ListenerToken) AcceptAll();
                else if (token == CompletionToken) Complete();
                else if (token >= FirstClientToken) Serve((int)(token - FirstClientToken), events[i].Events);
            }
            DropIdle();
        }
    }

    private void AcceptAll()
    {
        while (true)
        {
            UnixSocket? socket;
            try
            {
                socket = _listener.Accept();
            }
            catch (SyscallException e)
            {
                // EMFILE and the like: the connection stays queued; try again at the next event.
                _logger.LogWarning("control: {Reason}", e.Message);
                return;
            }
            if (socket is null) return;
            socket.Descriptor.SetNonBlocking(true);
            PeerIdentity? peer = socket.Identify();
            int slot = Array.IndexOf(_clients, null);
            if (slot < 0)
            {
                _logger.LogWarning("control: refused {Peer}: {Max} clients are connected already", ControlCommands.Who(peer), _clients.Length);
                // Best effort: the reply fits any socket buffer; a client that cannot take it is closed all the same.
                try
                {
                    socket.SendAvailable(ControlReply.Failure(null, ControlErrors.TooManyClients,
                        $"{_clients.Length} control clients are connected already; try again later"));
                }
                catch (SyscallException)
                {
                }
                socket.Dispose();
                continue;
            }
            var client = new ControlConnection(socket, peer, slot) { LastRequest = Stopwatch.GetTimestamp() };
            _clients[slot] = client;
            _epoll.Add(socket.Fd, FirstClientToken + (ulong)slot, Libc.EPOLLIN | Libc.EPOLLRDHUP);
            // Debug: a monitor polling status would fill the log at info; what a client changes is logged at info with its credentials.
            _logger.LogDebug("control: client connected: {Peer}", client.Who);
        }
    }

    private void Serve(int slot, uint events)
    {
        ControlConnection? client = _clients[slot];
        if (client is null) return;
        if (client.Streaming is not null)
        {
            ServeStream(client, events);
            return;
        }
        try
        {
            if (client.Deferred is not null && (events & (Libc.EPOLLRDHUP | Libc.EPOLLHUP | Libc.EPOLLERR)) != 0)
            {
                Drop(client, null);
                return;
            }
            if (!client.Closing && client.Deferred is null && (events & (Libc.EPOLLIN | Libc.EPOLLRDHUP | Libc.EPOLLHUP | Libc.EPOLLERR)) != 0)
                ReadRequests(client);
            if (_clients[slot] is null) return;
            if (client.Streaming is not null)
            {
                // From now on the stream's producer writes; this thread only watches for the client leaving.
                _epoll.Modify(client.Socket.Fd, FirstClientToken + (ulong)slot, Libc.EPOLLIN | Libc.EPOLLRDHUP);
                return;
            }
            if (client.PendingOutput > _limits.MaxPendingReplyBytes)
            {
                Drop(client, $"it left more than {_limits.MaxPendingReplyBytes} bytes of replies unread");
                return;
            }
            bool flushed = client.Flush();
            if (flushed && client.Closing)
            {
                Drop(client, null);
                return;
            }
            // Waiting for a deferred reply: only the client's going away is watched for.
            uint wanted = (client.Closing ? 0 : client.Deferred is not null ? Libc.EPOLLRDHUP : Libc.EPOLLIN | Libc.EPOLLRDHUP)
                | (flushed ? 0 : Libc.EPOLLOUT);
            _epoll.Modify(client.Socket.Fd, FirstClientToken + (ulong)slot, wanted);
        }
        catch (SyscallException e)
        {
            Drop(client, e.Message);
        }
    }

    /// <summary>Reads what arrived and answers every whole line in it.</summary>
    private void ReadRequests(ControlConnection client)
    {
        while (!client.Closing && client.Deferred is null && client.Streaming is null)
        {
            bool partial = client.HasPartialLine, expecting = client.FdsForNextLine;
            int before = client.Fds.Count;
            int received = client.Socket.ReceiveAvailable(client.FreeInput, client.Fds);
            if (client.Fds.Count > before)
            {
                // Fds belong to the request line that begins with the bytes they came with: one set per line.
                if (partial || expecting)
                {
                    _logger.LogWarning("control: {Peer} passed file descriptors in the middle of a request; closed them and the connection", client.Who);
                    client.Fds.Dispose();
                    Refuse(client, ControlErrors.FdsRefused, "file descriptors must come with the first byte of the request that takes them; the connection closes");
                    return;
                }
                client.FdsForNextLine = true;
            }
            if (received < 0) return;
            if (received == 0)
            {
                // End of stream: requests already whole are answered, then the connection closes.
                client.Closing = true;
                break;
            }
            client.Received(received);
            AnswerLines(client);
            if (client.LineTooLong)
            {
                _logger.LogWarning("control: {Peer} sent a line longer than {Max} bytes; the connection closes", client.Who, ControlProtocol.MaxLineBytes);
                Refuse(client, ControlErrors.LineTooLong, $"a request line is at most {ControlProtocol.MaxLineBytes} bytes; the connection closes");
                return;
            }
        }
        AnswerLines(client);
    }

    private void AnswerLines(ControlConnection client)
    {
        while (!client.Refused && client.Deferred is null && client.Streaming is null && client.TryTakeLine(out ReadOnlyMemory<byte> line))
        {
            client.LastRequest = Stopwatch.GetTimestamp();
            ReceivedFds? fds = client.FdsForNextLine ? client.Fds : null;
            client.FdsForNextLine = false;
            if (line.Span.Trim(" \t"u8).IsEmpty && fds is null) continue;
            DispatchOutcome outcome;
            try
            {
                outcome = _commands.Dispatch(line, _context, client.Peer, fds, client);
            }
            finally
            {
                // Whatever the command did not take is closed now, on every path.
                fds?.Dispose();
            }
            if (outcome.Deferred is { } deferred)
            {
                client.Deferred = deferred;
                client.DeferredId = ControlRequestId(line);
                deferred.OnComplete(() => _completions.SignalUnlessDisposed());
                return;
            }
            client.Queue(outcome.Reply!);
            if (outcome.Close)
            {
                // Nothing after a request that brought fds where none belong is answered.
                client.Closing = client.Refused = true;
                return;
            }
            if (client.StreamRequested is not null)
            {
                // What the client sent after this request is never read: the connection is a stream now.
                client.BeginStreaming();
                _logger.LogDebug("control: {Peer}: the connection carries a stream", client.Who);
            }
        }
    }

    /// <summary>A deferred request's id, read again from its line (it parsed once already).</summary>
    private static long? ControlRequestId(ReadOnlyMemory<byte> line)
    {
        try
        {
            using ControlRequest request = ControlRequest.Parse(line, out long? id);
            return id;
        }
        catch (ControlException)
        {
            return null;
        }
    }

    /// <summary>Deferred replies that are ready go out, and their clients are read again.</summary>
    private void Complete()
    {
        _completions.Consume();
        foreach (ControlConnection? client in _clients)
        {
            if (client?.Deferred is not { IsComplete: true } deferred) continue;
            client.Deferred = null;
            client.Queue(ControlCommands.Complete(client.DeferredId, deferred));
            client.LastRequest = Stopwatch.GetTimestamp();
            // Requests it sent meanwhile are answered now, in order.
            AnswerLines(client);
            Serve(client.Slot, Libc.EPOLLIN);
        }
    }

    /// <summary>A streaming connection: whatever the client sends is read and ignored; its closing the
    /// connection ends the stream's producer.</summary>
    private void ServeStream(ControlConnection client, uint events)
    {
        Span<byte> ignored = stackalloc byte[512];
        try
        {
            if ((events & (Libc.EPOLLHUP | Libc.EPOLLERR)) != 0)
            {
                EndStream(client, "the client closed the connection");
                return;
            }
            while (true)
            {
                int received = client.Socket.ReceiveAvailable(ignored, out _);
                if (received < 0) return;
                if (received == 0)
                {
                    // It sends nothing more but may still read (a half close): wait for the hang-up only.
                    _epoll.Modify(client.Socket.Fd, FirstClientToken + (ulong)client.Slot, 0);
                    return;
                }
            }
        }
        catch (SyscallException e)
        {
            EndStream(client, e.Message);
        }
    }

    private void EndStream(ControlConnection client, string reason)
    {
        _logger.LogInformation("control: {Peer}: stream ended: {Reason}", client.Who, reason);
        client.EndStreaming();
        Drop(client, null);
    }

    private static void Refuse(ControlConnection client, string code, string message)
    {
        client.Queue(ControlReply.Failure(null, code, message));
        client.Closing = client.Refused = true;
    }

    private void DropIdle()
    {
        long now = Stopwatch.GetTimestamp();
        foreach (ControlConnection? client in _clients)
        {
            if (client?.Streaming is { } streaming)
            {
                // A stream may be quiet for hours; it ends when its producer does.
                if (!streaming.IsRunning()) EndStream(client, "its producer ended");
            }
            else if (client is not null && client.Deferred is null && Stopwatch.GetElapsedTime(client.LastRequest, now) > _limits.IdleTimeout)
                Drop(client, $"no request for {_limits.IdleTimeout.TotalSeconds:0} s");
        }
    }

    private void Drop(ControlConnection client, string? reason)
    {
        // Logged first: whoever sees the connection close finds the reason in the log.
        if (reason is null) _logger.LogDebug("control: {Peer} disconnected", client.Who);
        else _logger.LogWarning("control: dropped {Peer}: {Reason}", client.Who, reason);
        _clients[client.Slot] = null;
        // A client that waited for a replay and went away ends it.
        client.Deferred?.Abandon();
        client.Deferred = null;
        _epoll.Remove(client.Socket.Fd);
        client.Dispose();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _stopRequested = true;
        _exit.Signal();
        _thread.Join();
        // Producers first: they write to the sockets closed next.
        foreach (ControlConnection? client in _clients) client?.EndStreaming();
        _context.Replays.StopAll();
        foreach (ControlConnection? client in _clients) client?.Dispose();
        _listener.Dispose();
        if (_path is not null) File.Delete(_path);
        _epoll.Dispose();
        _exit.Dispose();
        _completions.Dispose();
    }
}
