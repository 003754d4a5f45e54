using VhostDeviceCan.Interop;

namespace VhostDeviceCan.VhostUser;

/// <summary>
/// The back-end's side of the back-end → front-end channel: the socket received with
/// SET_BACKEND_REQ_FD (vhost-user.rst "Back-end communication"). Sends are serialised by a lock,
/// so any thread may call (the CAN device raises bus-off from its own thread). Owns the socket.
/// </summary>
public sealed class BackendChannel : IDisposable
{
    private readonly Lock _gate = new();
    private readonly VhostUserConnection _connection;
    private readonly ReadableWaiter _waiter;
    private readonly byte[] _payload = new byte[MessageHeader.MaxPayload];
    private readonly ReceivedFds _fds = new();
    private bool _broken;

    /// <param name="nonBlockingSend">See <see cref="VhostUserConnection.NonBlockingSend"/>.</param>
    public BackendChannel(UnixSocket socket, bool nonBlockingSend = false)
    {
        _connection = new VhostUserConnection(socket) { NonBlockingSend = nonBlockingSend };
        _waiter = new ReadableWaiter(socket.Fd);
    }

    /// <summary>How long to wait for the front-end's u64 when NEED_REPLY was set.</summary>
    public TimeSpan ReplyTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Sends BACKEND_CONFIG_CHANGE_MSG (size 0). With <paramref name="needReply"/> (only valid once
    /// REPLY_ACK is negotiated) it sets NEED_REPLY and waits for the u64: returns false when the
    /// front-end answered non-zero (QEMU does so when its device model has no config space).
    /// Never call this with needReply from the thread that serves the main socket: QEMU may issue
    /// GET_CONFIG there before it answers (docs/spec/vhost-user.md §9).
    /// </summary>
    /// <exception cref="VhostUserException">Socket error, timeout or malformed reply; the channel is then unusable.</exception>
    public bool SendConfigChange(bool needReply)
    {
        const BackendRequest request = BackendRequest.CONFIG_CHANGE_MSG;
        lock (_gate)
        {
            if (_broken)
                throw new VhostUserException(VhostUserError.InvalidState, "back-end channel already failed", dropConnection: true);
            try
            {
                _connection.Send((uint)request, MessageHeader.Version | (needReply ? MessageHeader.NeedReplyFlag : 0), default);
                return !needReply || ReceiveAck(request) == 0;
            }
            catch (VhostUserException)
            {
                // A late or partial reply would be taken as the answer to the next request.
                _broken = true;
                throw;
            }
        }
    }

    private ulong ReceiveAck(BackendRequest request)
    {
        _fds.Dispose();
        if (!_waiter.Wait(ReplyTimeout))
            throw new VhostUserException(VhostUserError.Timeout,
                $"back-end {request}: no ack within {ReplyTimeout.TotalMilliseconds} ms", dropConnection: true);
        if (!_connection.Receive(out var header, _payload, _fds))
            throw new VhostUserException(VhostUserError.Disconnected,
                $"back-end {request}: front-end closed the channel", dropConnection: true);
        int fdCount = _fds.Count;
        _fds.Dispose();
        // The same checks QEMU applies to replies it receives: exactly 0x5, same code, a u64, no fds.
        if (header.Flags != (MessageHeader.Version | MessageHeader.ReplyFlag) || header.Request != (uint)request
            || header.Size != U64Payload.Length || fdCount != 0)
            throw new VhostUserException(VhostUserError.UnexpectedReply,
                $"back-end {request}: bad ack (request {header.Request}, flags 0x{header.Flags:x}, size {header.Size}, {fdCount} fds)",
                dropConnection: true);
        return Payload.Read<U64Payload>(_payload).Value;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _fds.Dispose();
            _waiter.Dispose();
            _connection.Dispose();
        }
    }
}
