using System.Buffers.Binary;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Can.Cannelloni;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>The connection's life: connect or accept, handshake, up, closed (docs/spec/cannelloni.md §7).</summary>
public sealed partial class CannelloniTcpBridge
{
    /// <summary>The client's retry, a connect or a handshake that did not complete in time.</summary>
    private void TimerExpired()
    {
        if (_link == Link.Connecting)
        {
            // An address that drops SYNs would otherwise keep the kernel trying for minutes.
            Discard();
            ConnectFailed(SocketError.TimedOut);
        }
        else if (_link == Link.Handshaking)
        {
            Counters.HandshakeTimedOut();
            Close($"no handshake within {HandshakeTimeout.TotalSeconds} s", Counters.HandshakeTimeouts == 1);
        }
        else if (_link == Link.Waiting && !_spec.IsServer)
        {
            Connect();
        }
    }

    private void Connect()
    {
        var socket = new Socket(_spec.Endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
        try
        {
            socket.Connect(_spec.Endpoint);
            Opened(socket);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock)
        {
            _connection = socket;
            _link = Link.Connecting;
            _timer.Arm(HandshakeTimeout);
            Watch(Libc.EPOLLOUT);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            ConnectFailed(e.SocketErrorCode);
        }
    }

    /// <summary>The kernel finished the non-blocking connect: SO_ERROR says how.</summary>
    private void ConnectFinished()
    {
        var result = (SocketError)(int)_connection!.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
        // With nothing listening on a local port, Linux may pick that very port as the source and
        // connect the socket to itself (a simultaneous open); it would then hear its own handshake.
        if (result == SocketError.Success && _connection.LocalEndPoint!.Equals(_connection.RemoteEndPoint))
            result = SocketError.ConnectionRefused;
        if (result == SocketError.Success)
        {
            Opened(_connection);
            return;
        }
        Discard();
        ConnectFailed(result);
    }

    private void ConnectFailed(SocketError error)
    {
        if (!_connectFailureLogged)
            _log.LogInformation("bridge {Bridge}: cannot connect ({Error}); trying again every {Seconds} s at most", _spec, error, LongestRetry.TotalSeconds);
        _connectFailureLogged = true;
        RetryLater();
    }

    private void RetryLater()
    {
        _link = Link.Waiting;
        _timer.Arm(_retryDelay);
        _retryDelay = TimeSpan.FromTicks(Math.Min(_retryDelay.Ticks * 2, LongestRetry.Ticks));
    }

    /// <summary>New clients while the peer's place is taken are closed at once: waiting unread in the
    /// backlog, as cannelloni leaves them, they would look connected to their side.</summary>
    private void AcceptAll()
    {
        while (_listener!.Poll(0, SelectMode.SelectRead))
        {
            Socket accepted;
            try
            {
                accepted = _listener.Accept();
            }
            catch (SocketException)
            {
                // Gone before it was taken (ECONNABORTED) or taken by nobody else: nothing to do.
                return;
            }
            if (_connection is not null)
            {
                Counters.RefusedBusy();
                if (Counters.Busy == 1)
                    _log.LogWarning("bridge {Bridge}: client {Client} closed: the peer's place is taken (counted as busy from now on)", _spec, accepted.RemoteEndPoint);
                accepted.Dispose();
                continue;
            }
            accepted.Blocking = false;
            Opened(accepted);
        }
    }

    /// <summary>Connected: our handshake goes first; the peer's is awaited (docs/spec/cannelloni.md §5).</summary>
    private void Opened(Socket socket)
    {
        _connection = socket;
        socket.NoDelay = true;
        // Half-open connections: keep-alives find a silent peer, TCP_USER_TIMEOUT one that leaves sent data unacknowledged.
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, 5);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 5);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 3);
        Span<byte> userTimeout = stackalloc byte[sizeof(int)];
        BinaryPrimitives.WriteInt32LittleEndian(userTimeout, (int)DeadPeerTimeout.TotalMilliseconds);
        socket.SetRawSocketOption(Libc.IPPROTO_TCP, Libc.TCP_USER_TIMEOUT, userTimeout);
        _link = Link.Handshaking;
        _reader.Reset();
        CannelloniFormat.TcpHandshake.CopyTo(_outgoing);
        _outgoingStart = 0;
        _outgoingEnd = CannelloniFormat.TcpHandshake.Length;
        _timer.Arm(HandshakeTimeout);
        Watch(Interest());
        Flush();
    }

    /// <summary>The peer's handshake was right: frames flow from now on.</summary>
    private void HandshakeDone()
    {
        _link = Link.Up;
        _timer.Disarm();
        _timer.Consume();
        _retryDelay = FirstRetry;
        _connectFailureLogged = false;
        Counters.Connected();
        Volatile.Write(ref _peerUp, true);
        _log.LogInformation("bridge {Bridge}: peer up ({Peer})", _spec, _connection!.RemoteEndPoint);
    }

    /// <summary>Ends the connection. A peer that was up is logged down always; a failed handshake
    /// or refused stream when <paramref name="logFailure"/> (the first of its kind).</summary>
    private void Close(string reason, bool logFailure)
    {
        bool wasUp = _link == Link.Up;
        Discard();
        if (wasUp)
        {
            Volatile.Write(ref _peerUp, false);
            _log.LogWarning("bridge {Bridge}: peer down: {Reason}", _spec, reason);
        }
        else if (logFailure)
        {
            _log.LogWarning("bridge {Bridge}: connection closed before the peer was up: {Reason} (counted from now on)", _spec, reason);
        }
        if (_spec.IsServer) _link = Link.Waiting;
        else RetryLater();
    }

    /// <summary>Forgets the connection and whatever of it was not yet sent or read; frames already
    /// decoded still go onto the bus.</summary>
    private void Discard()
    {
        _epoll.Remove((int)_connection!.Handle);
        _connection.Dispose();
        _connection = null;
        _generation++;
        _interest = 0;
        _registered = false;
        _link = Link.Waiting;
        _timer.Disarm();
        _timer.Consume();
        _reader.Reset();
        _outgoingStart = _outgoingEnd = 0;
    }

    private void ConnectionReady(uint events)
    {
        if (_link == Link.Connecting)
        {
            ConnectFinished();
            return;
        }
        if ((events & Libc.EPOLLOUT) != 0)
        {
            Flush();
            if (_connection is null) return;
        }
        if ((events & (Libc.EPOLLIN | Libc.EPOLLRDHUP | Libc.EPOLLHUP | Libc.EPOLLERR)) == 0) return;
        if (!_waitingForRoom)
            ReadConnection();
        else if ((events & (Libc.EPOLLHUP | Libc.EPOLLERR)) != 0)
            Close("connection reset", false);
    }

    /// <summary>What the connection is watched for: reading unless the bus has no room, writing while bytes wait.</summary>
    private uint Interest()
    {
        if (_link == Link.Connecting) return Libc.EPOLLOUT;
        uint events = _waitingForRoom ? 0 : Libc.EPOLLIN | Libc.EPOLLRDHUP;
        return _outgoingStart < _outgoingEnd ? events | Libc.EPOLLOUT : events;
    }

    private void Watch(uint events)
    {
        ulong token = ConnectionToken | _generation << GenerationShift;
        int fd = (int)_connection!.Handle;
        if (!_registered)
        {
            _epoll.Add(fd, token, events);
            _registered = true;
        }
        else if (events != _interest)
        {
            _epoll.Modify(fd, token, events);
        }
        _interest = events;
    }
}
