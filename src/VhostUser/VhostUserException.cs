namespace VhostDeviceCan.VhostUser;

/// <summary>Why a vhost-user exchange failed.</summary>
public enum VhostUserError
{
    /// <summary>The peer closed the connection.</summary>
    Disconnected,
    /// <summary>A socket error (errno in the message).</summary>
    SocketError,
    /// <summary>Header flags with a wrong version or unknown bits.</summary>
    InvalidHeader,
    /// <summary>Payload larger than any this side accepts.</summary>
    OversizedMessage,
    /// <summary>The connection closed in the middle of a message.</summary>
    TruncatedMessage,
    /// <summary>A request code this side does not know.</summary>
    UnknownRequest,
    /// <summary>Payload size wrong for the request.</summary>
    InvalidPayloadSize,
    /// <summary>Payload fields out of range.</summary>
    InvalidPayload,
    /// <summary>Number of passed fds wrong for the request.</summary>
    WrongFdCount,
    /// <summary>Request not allowed in the current state (e.g. a feature not negotiated).</summary>
    InvalidState,
    /// <summary>A reply that does not answer the request sent (code, flags or size).</summary>
    UnexpectedReply,
    /// <summary>The peer answered a request with a non-zero REPLY_ACK.</summary>
    RequestFailed,
    /// <summary>The device could not carry out a valid request (e.g. mmap failed).</summary>
    DeviceError,
    /// <summary>No reply within the configured time; the stream can no longer be trusted.</summary>
    Timeout,
}

/// <summary>A vhost-user failure: what went wrong and whether the connection must be dropped.</summary>
public sealed class VhostUserException(VhostUserError error, string message, bool dropConnection = false, Exception? inner = null)
    : Exception(message, inner)
{
    public VhostUserError Error { get; } = error;

    /// <summary>True when the byte stream can no longer be trusted (framing lost, peer gone).</summary>
    public bool DropConnection { get; } = dropConnection;
}
