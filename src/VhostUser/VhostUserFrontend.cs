using VhostDeviceCan.Interop;

namespace VhostDeviceCan.VhostUser;

/// <summary>
/// The front-end (VMM) side of vhost-user over a connected socket: what QEMU's
/// hw/virtio/vhost-user.c does, as a synchronous typed client, one request at a time.
/// It sets NEED_REPLY where QEMU does (vhost-user.rst "REPLY_ACK"), checks every reply the way
/// QEMU does (flags exactly 0x5, same request code, exact size) and never waits longer than
/// <see cref="ReplyTimeout"/>. The typed methods do not check what was negotiated, so a test can
/// send anything; <see cref="SendRaw"/> and <see cref="TryReceiveRaw"/> go below the typed layer.
/// Not thread-safe.
/// </summary>
public sealed partial class VhostUserFrontend : IDisposable
{
    /// <summary>The only flags QEMU accepts on a reply: version 1 + REPLY (vhost_user_read).</summary>
    public const uint ReplyFlags = MessageHeader.Version | MessageHeader.ReplyFlag;

    private readonly VhostUserConnection _connection;
    private readonly ReadableWaiter _waiter;
    // One receive buffer and one fd collection per connection: replies allocate nothing.
    private readonly byte[] _payload = new byte[MessageHeader.MaxPayload];
    private readonly ReceivedFds _fds = new();

    public VhostUserFrontend(UnixSocket socket)
    {
        _connection = new VhostUserConnection(socket);
        _waiter = new ReadableWaiter(socket.Fd);
    }

    public UnixSocket Socket => _connection.Socket;

    /// <summary>How long to wait for any reply or ack before failing with <see cref="VhostUserError.Timeout"/>.</summary>
    public TimeSpan ReplyTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Once REPLY_ACK is negotiated, also set NEED_REPLY on the requests QEMU sends without it
    /// (SET_OWNER, SET_FEATURES, SET_PROTOCOL_FEATURES, SET_VRING_*, SET_STATUS, RESET_*), and wait
    /// for their ack. The spec lets a front-end ask for an ack on any request.
    /// </summary>
    public bool AckEverything { get; set; }

    /// <summary>
    /// Where QEMU needs a round trip but REPLY_ACK is not negotiated, it sends GET_FEATURES and waits
    /// for that reply instead (enforce_reply in vhost-user.c). On by default, as in QEMU.
    /// </summary>
    public bool SyncWithGetFeatures { get; set; } = true;

    /// <summary>The protocol features last sent with SET_PROTOCOL_FEATURES (what the front-end acked).</summary>
    public ProtocolFeatures AckedProtocolFeatures { get; private set; }

    public bool ReplyAckNegotiated => (AckedProtocolFeatures & ProtocolFeatures.REPLY_ACK) != 0;

    /// <summary>The header flags of the last request sent, for tests that check NEED_REPLY.</summary>
    public uint LastRequestFlags { get; private set; }

    /// <summary>When this side asks for a u64 ack (vhost-user.rst "REPLY_ACK"; QEMU's choices in vhost-user.c).</summary>
    private enum Ack
    {
        /// <summary>QEMU never asks; only <see cref="AckEverything"/> adds NEED_REPLY.</summary>
        Optional,
        /// <summary>NEED_REPLY with REPLY_ACK, otherwise nothing (SET_MEM_TABLE, SET_CONFIG, ...).</summary>
        IfNegotiated,
        /// <summary>NEED_REPLY with REPLY_ACK, otherwise a GET_FEATURES round trip (enforce_reply).</summary>
        Synchronous,
    }

    /// <summary>Sends a request, then waits for its ack if this request asks for one.</summary>
    private void Request(FrontendRequest request, ReadOnlySpan<byte> payload, ReadOnlySpan<int> fds, Ack ack)
    {
        bool needReply = ReplyAckNegotiated && (ack != Ack.Optional || AckEverything);
        Send(request, needReply ? MessageHeader.NeedReplyFlag : 0, payload, fds);
        if (needReply) ReceiveAck(request);
        else if (ack == Ack.Synchronous && SyncWithGetFeatures) GetFeatures();
    }

    private void Send(FrontendRequest request, uint extraFlags, ReadOnlySpan<byte> payload, ReadOnlySpan<int> fds = default)
    {
        LastRequestFlags = MessageHeader.Version | extraFlags;
        _connection.Send((uint)request, LastRequestFlags, payload, fds);
    }

    /// <summary>Reads the u64 ack of a NEED_REPLY request: 0 = success (vhost-user.rst "REPLY_ACK").</summary>
    private void ReceiveAck(FrontendRequest request)
    {
        ulong ack = Payload.Read<U64Payload>(ReceiveReply(request, U64Payload.Length)).Value;
        if (ack != 0)
            throw new VhostUserException(VhostUserError.RequestFailed, $"{request}: back-end answered {ack} (failure)");
    }

    private ulong ReceiveU64(FrontendRequest request) =>
        Payload.Read<U64Payload>(ReceiveReply(request, U64Payload.Length)).Value;

    /// <summary>
    /// Receives the reply to <paramref name="request"/> and checks it as QEMU's vhost_user_read and
    /// vhost_user_get_u64 / get_config do: flags exactly 0x5, same request code, exactly
    /// <paramref name="expectedSize"/> bytes. QEMU replies carry no fds, so any fd is refused too.
    /// Every failure here leaves the stream unusable, so each one asks to drop the connection.
    /// </summary>
    private ReadOnlySpan<byte> ReceiveReply(FrontendRequest request, int expectedSize)
    {
        MessageHeader header;
        try
        {
            if (ReceiveMessage(out header, ReplyTimeout) is var status && status != RawReceiveStatus.Message)
            {
                throw status == RawReceiveStatus.TimedOut
                    ? new VhostUserException(VhostUserError.Timeout,
                        $"{request}: no reply within {ReplyTimeout.TotalMilliseconds} ms", dropConnection: true)
                    : new VhostUserException(VhostUserError.Disconnected,
                        $"{request}: back-end closed the connection instead of replying", dropConnection: true);
            }
        }
        catch (VhostUserException e) when (e.Error is VhostUserError.InvalidHeader or VhostUserError.OversizedMessage)
        {
            throw new VhostUserException(VhostUserError.UnexpectedReply, $"{request}: {e.Message}", dropConnection: true, e);
        }

        int fdCount = _fds.Count;
        _fds.Dispose();
        string? problem =
            header.Flags != ReplyFlags ? $"flags 0x{header.Flags:x}, expected 0x{ReplyFlags:x}"
            : header.Request != (uint)request ? $"reply to request {header.Request}"
            : header.Size != expectedSize ? $"size {header.Size}, expected {expectedSize}"
            : fdCount != 0 ? $"{fdCount} unexpected fds"
            : null;
        if (problem is not null)
            throw new VhostUserException(VhostUserError.UnexpectedReply, $"{request}: bad reply: {problem}", dropConnection: true);
        return _payload.AsSpan(0, expectedSize);
    }

    private RawReceiveStatus ReceiveMessage(out MessageHeader header, TimeSpan timeout)
    {
        header = default;
        _fds.Dispose();
        if (!_waiter.Wait(timeout)) return RawReceiveStatus.TimedOut;
        return _connection.Receive(out header, _payload, _fds) ? RawReceiveStatus.Message : RawReceiveStatus.Closed;
    }

    /// <summary>
    /// Sends any message exactly as given (flags included), for tests of a hostile or broken
    /// front-end. The payload limit of <see cref="MessageHeader.MaxPayload"/> still applies.
    /// </summary>
    public void SendRaw(uint request, uint flags, ReadOnlySpan<byte> payload, ReadOnlySpan<int> fds = default)
    {
        LastRequestFlags = flags;
        _connection.Send(request, flags, payload, fds);
    }

    /// <summary>
    /// Receives one message without checking what it answers. The payload is copied into
    /// <paramref name="payload"/> (truncated to its length); fds that came with it are moved into
    /// <paramref name="fds"/> if given, otherwise closed. Framing errors still throw.
    /// </summary>
    public RawReceiveStatus TryReceiveRaw(out MessageHeader header, Span<byte> payload, TimeSpan timeout, List<FileDescriptor>? fds = null)
    {
        var status = ReceiveMessage(out header, timeout);
        if (status == RawReceiveStatus.Message)
        {
            int size = (int)Math.Min(header.Size, (uint)payload.Length);
            _payload.AsSpan(0, size).CopyTo(payload);
            if (fds is not null)
                for (int i = 0; i < _fds.Count; i++) fds.Add(_fds.Take(i));
        }
        _fds.Dispose();
        return status;
    }

    public void Dispose()
    {
        _fds.Dispose();
        _waiter.Dispose();
        _connection.Dispose();
    }
}
