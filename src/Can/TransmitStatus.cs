namespace VhostDeviceCan.Can;

/// <summary>What <see cref="ICanTransport.Transmit"/> did with a frame.</summary>
public enum TransmitStatus
{
    /// <summary>Handed to the bus or host stack; the frame will not be reported again.</summary>
    Sent = 0,
    /// <summary>
    /// Not taken because the transport's queue is full. Nothing happened; retry the same frame
    /// once <see cref="ICanTransport.WritePollFd"/> is writable.
    /// </summary>
    WouldBlock,
    /// <summary>The frame cannot go out on this transport (e.g. FD on a classic-only interface). Not sent; do not retry.</summary>
    Rejected,
    /// <summary>The interface is down or the transport closed. Not sent; see <see cref="ICanTransport.BusState"/>.</summary>
    Down,
}
