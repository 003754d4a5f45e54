namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>
/// The counter families bridges report (<see cref="Device.Metrics.BridgeCounter"/>), named and
/// explained once so that every kind reporting one writes the same HELP line.
/// </summary>
public static class BridgeFamilies
{
    public const string Frames = "frames_total";
    public const string FramesHelp = "CAN frames the bridge carried: direction in from the peer onto the bus, out from the bus to the peer.";

    public const string Datagrams = "datagrams_total";
    public const string DatagramsHelp = "Datagrams (or messages on a stream) exchanged with the peer, by direction in or out.";

    public const string DroppedFrames = "dropped_frames_total";
    public const string DroppedFramesHelp = "Frames the bridge dropped, by reason: send_failed (the socket's buffer was full or the send failed), "
        + "bus_refused (the bus refused frames from the peer), no_peer (from the bus while no peer was connected), "
        + "slow_client (a socketcand client did not read), fd, remote, error_frame (frames socketcand cannot carry), "
        + "fd_on_classic (an FD frame for a classic interface), tx_queue_full, interface_down, rx_overflow (the kernel's receive queue was full).";

    public const string DroppedDatagrams = "dropped_datagrams_total";
    public const string DroppedDatagramsHelp = "Datagrams the bridge dropped, whole or from their first bad frame on, by reason: foreign "
        + "(not from the peer's address and port), short_header, wrong_version, wrong_op_code, truncated, bad_length.";

    public const string SequenceGaps = "sequence_gaps_total";
    public const string SequenceGapsHelp = "Datagrams the peer's sequence numbers say never arrived (informational: UDP may also reorder).";

    public const string ReceiveErrors = "receive_errors_total";
    public const string ReceiveErrorsHelp = "Receive calls on the bridge's socket that failed.";

    public const string Sessions = "sessions_total";
    public const string SessionsHelp = "Connections of a bridge's clients or peers, by event: up (opened or connected), refused (turned away: too many or busy).";
}
