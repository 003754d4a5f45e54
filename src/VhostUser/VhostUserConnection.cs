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
    /// Receives one message. The header is read with its own recvmsg so that fds of the next
    /// message are never taken early; fds may only ride with the header, so any fd arriving with
    /// the payload is closed and the message refused. Returns false when the peer closed cleanly
    /// between messages.
    /// </summary>
    /// <param name="payload">At least <see cref="MessageHeader.MaxPayload"/> bytes.</param>
    public bool Receive(out MessageHeader header, Span<byte> payload, ReceivedFds fds)
    {
        header = default;
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
                if (!Socket.ReceiveExactly(payload[..(int)header.Size], strayFds))
                    throw new EndOfStreamException("connection closed before the payload");
            }
            catch (Exception e) when (e is SyscallException or EndOfStreamException)
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
            Socket.Send(message, fds);
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
