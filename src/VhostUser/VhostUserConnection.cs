using VhostDeviceCan.Interop;

namespace VhostDeviceCan.VhostUser;

/// <summary>
/// Message framing over a vhost-user Unix socket, for either role: header + payload + fds in,
/// header + payload + fds out. It knows nothing of what the messages mean.
/// </summary>
public sealed class VhostUserConnection : IDisposable
{
    private readonly byte[] _headerBuffer = new byte[MessageHeader.Length];
    private readonly byte[] _sendBuffer = new byte[MessageHeader.Length + MessageHeader.MaxPayload];

    public VhostUserConnection(UnixSocket socket) => Socket = socket;

    public UnixSocket Socket { get; }

    /// <summary>
    /// When set, the whole of one message (header and payload) must arrive within this time once
    /// <see cref="Receive"/> is called, and the socket's own timeouts must be set to the same value
    /// (<see cref="UnixSocket.SetTimeouts"/>). SO_RCVTIMEO alone bounds each recvmsg, so a peer
    /// sending one byte just before every timeout could hold the receiver for hours. Null: only
    /// the socket's timeouts apply.
    /// </summary>
    public TimeSpan? MessageTimeout { get; init; }

    /// <summary>Sends never wait for room in the socket: a peer that leaves its replies unread
    /// until the buffer is full gets a <see cref="VhostUserException"/> that drops it, instead of
    /// holding the sending thread.</summary>
    public bool NonBlockingSend { get; init; }

    /// <summary>
    /// Receives one message. The header is read with its own recvmsg so that fds of the next
    /// message are never taken early; fds may only ride with the header, so any fd arriving with
    /// the payload is closed and the message refused. Returns false when the peer closed cleanly
    /// between messages.
    /// </summary>
    /// <param name="payload">At least <see cref="MessageHeader.MaxPayload"/> bytes.</param>
    public bool Receive(out MessageHeader header, Span<byte> payload, ReceivedFds fds)
    {
        header = default;
        long start = Environment.TickCount64;
        Span<byte> headerBytes = _headerBuffer;
        int got;
        try
        {
            got = Socket.Receive(headerBytes, fds, waitAll: true);
        }
        catch (SyscallException e)
        {
            throw new VhostUserException(VhostUserError.SocketError, e.Message, dropConnection: true, e);
        }
        if (got == 0) return false;
        if (got < MessageHeader.Length)
            throw new VhostUserException(VhostUserError.TruncatedMessage,
                $"connection closed after {got} of {MessageHeader.Length} header bytes", dropConnection: true);

        header = Payload.Read<MessageHeader>(headerBytes);
        if (!header.IsValid)
            throw new VhostUserException(VhostUserError.InvalidHeader,
                $"request {header.Request}: invalid header flags 0x{header.Flags:x}", dropConnection: true);
        if (header.Size > MessageHeader.MaxPayload || header.Size > payload.Length)
            throw new VhostUserException(VhostUserError.OversizedMessage,
                $"request {header.Request}: payload of {header.Size} bytes exceeds the {MessageHeader.MaxPayload}-byte limit",
                dropConnection: true);

        if (header.Size > 0)
        {
            using var strayFds = new ReceivedFds();
            try
            {
                if (MessageTimeout is { } limit) ReceivePayloadBefore(payload[..(int)header.Size], strayFds, limit, start);
                else if (!Socket.ReceiveExactly(payload[..(int)header.Size], strayFds))
                    throw new EndOfStreamException("connection closed before the payload");
            }
            catch (Exception e) when (e is SyscallException or EndOfStreamException or TimeoutException)
            {
                throw new VhostUserException(VhostUserError.TruncatedMessage,
                    $"request {header.Request}: {e.Message}", dropConnection: true, e);
            }
            if (strayFds.Count > 0)
                throw new VhostUserException(VhostUserError.WrongFdCount,
                    $"request {header.Request}: file descriptors arrived inside the payload", dropConnection: true);
        }
        return true;
    }

    /// <summary>
    /// Reads the payload with a deadline for the whole message: each further recvmsg after a short
    /// one gets only the time that is left, and the socket's timeouts are put back afterwards.
    /// The header's recvmsg needs nothing of this: MSG_WAITALL counts its timeout across the call.
    /// </summary>
    private void ReceivePayloadBefore(Span<byte> payload, ReceivedFds strayFds, TimeSpan limit, long start)
    {
        long deadline = start + (long)limit.TotalMilliseconds;
        bool shortened = false;
        try
        {
            int total = 0;
            while (total < payload.Length)
            {
                long remaining = deadline - Environment.TickCount64;
                // The first read keeps the socket's own timeout unless the header already used some of it.
                if (total > 0 || remaining < (long)limit.TotalMilliseconds)
                {
                    if (remaining <= 0)
                        throw new TimeoutException($"only {total} of {payload.Length} payload bytes within {limit.TotalMilliseconds} ms");
                    Socket.SetTimeouts(TimeSpan.FromMilliseconds(remaining));
                    shortened = true;
                }
                int n = Socket.Receive(payload[total..], strayFds, waitAll: true);
                if (n == 0) throw new EndOfStreamException($"connection closed after {total} of {payload.Length} payload bytes");
                total += n;
            }
        }
        finally
        {
            if (shortened) Socket.SetTimeouts(limit);
        }
    }

    /// <summary>Sends one message: header, payload and fds in a single sendmsg where possible.</summary>
    public void Send(uint request, uint flags, ReadOnlySpan<byte> payload, ReadOnlySpan<int> fds = default)
    {
        if (payload.Length > MessageHeader.MaxPayload)
            throw new ArgumentOutOfRangeException(nameof(payload), "payload exceeds the vhost-user limit");
        Span<byte> message = _sendBuffer.AsSpan(0, MessageHeader.Length + payload.Length);
        Payload.Write(message, new MessageHeader(request, flags, (uint)payload.Length));
        payload.CopyTo(message[MessageHeader.Length..]);
        try
        {
            Socket.Send(message, fds, NonBlockingSend);
        }
        catch (SyscallException e)
        {
            throw new VhostUserException(VhostUserError.SocketError, e.Message, dropConnection: true, e);
        }
    }

    /// <summary>A reply: version 1 + REPLY and nothing else (QEMU accepts exactly 0x5).</summary>
    public void SendReply(uint request, ReadOnlySpan<byte> payload) =>
        Send(request, MessageHeader.Version | MessageHeader.ReplyFlag, payload);

    public void SendReply(uint request, ulong value)
    {
        Span<byte> bytes = stackalloc byte[U64Payload.Length];
        Payload.Write(bytes, new U64Payload(value));
        SendReply(request, bytes);
    }

    public void Dispose() => Socket.Dispose();
}
