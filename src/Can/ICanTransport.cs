namespace VhostDeviceCan.Can;

/// <summary>
/// A CAN bus as one virtio-can device sees it: SocketCAN, the built-in virtual bus, or a test
/// double. The device never learns which (the Rust reference branches on the name "vcan0",
/// docs/spec/virtio-can.md §10.3).
/// </summary>
/// <remarks>
/// Threading: one device event loop owns a transport and calls every member from that one
/// thread; an implementation needs no locks for its own state, but must tolerate other
/// transports on other threads (the virtual bus). Frames pass by reference into
/// caller-provided spans, and an implementation must not allocate per frame.
/// Readiness: the device adds <see cref="PollFd"/> to its epoll set (level-triggered) and calls
/// <see cref="Receive"/> when it is readable.
/// </remarks>
public interface ICanTransport : IDisposable
{
    /// <summary>For logs: the interface name (<c>vcan0</c>) or <c>vbus:NAME</c>. Constant for the lifetime.</summary>
    string Name { get; }

    /// <summary>
    /// True when the transport carries CAN FD frames, so the device may offer
    /// <c>VIRTIO_CAN_F_CAN_FD</c>. Constant for the lifetime (SocketCAN: interface MTU is <c>CANFD_MTU</c>).
    /// </summary>
    bool SupportsFd { get; }

    /// <summary>When a sent frame counts as "on the bus" for LATE_TX_ACK. Constant for the lifetime.</summary>
    TxConfirmation Confirmation { get; }

    /// <summary>
    /// An fd that is readable whenever <see cref="Receive"/> may return frames or confirmations,
    /// or <see cref="BusState"/> may have changed. It must stay readable until a
    /// <see cref="Receive"/> has taken everything pending (so a level-triggered epoll never
    /// misses a frame), and it must not stay readable forever once nothing is pending (so the
    /// device never spins). Owned by the transport; valid until <see cref="IDisposable.Dispose"/>.
    /// </summary>
    int PollFd { get; }

    /// <summary>
    /// The fd to watch for EPOLLOUT after <see cref="TransmitStatus.WouldBlock"/> (it may equal
    /// <see cref="PollFd"/>), or -1 if <see cref="Transmit"/> never returns WouldBlock. The device
    /// adds write interest only while it holds a blocked frame.
    /// </summary>
    int WritePollFd { get; }

    /// <summary>
    /// Bus state as of the last <see cref="Transmit"/> or <see cref="Receive"/>. The device reads
    /// it after each call. A transport leaves BusOff / Down on its own when it sees the bus
    /// recover (SocketCAN: <c>CAN_ERR_RESTARTED</c>, link up).
    /// </summary>
    CanBusState BusState { get; }

    /// <summary>
    /// Sends one frame without blocking. <paramref name="frame"/> is a valid, already validated
    /// frame (<see cref="TxRequestDecoder"/>); FD frames have <see cref="CanFrame.IsFd"/> set.
    /// On <see cref="TransmitStatus.Sent"/> the frame is out of the caller's hands: with
    /// <see cref="TxConfirmation.Deferred"/> exactly one confirmation for it will follow from
    /// <see cref="Receive"/>, after the confirmations of earlier frames. On any other status
    /// nothing was sent and no confirmation will follow. Never throws for bus conditions.
    /// </summary>
    TransmitStatus Transmit(in CanFrame frame);

    /// <summary>
    /// Sends frames in order until one is not <see cref="TransmitStatus.Sent"/>. Returns how many
    /// were sent; <paramref name="status"/> is <see cref="TransmitStatus.Sent"/> when all were, else
    /// the status of the first frame not sent (which the caller handles as for <see cref="Transmit"/>).
    /// Implementations override it to batch wake-ups or system calls.
    /// </summary>
    int TransmitBatch(ReadOnlySpan<CanFrame> frames, out TransmitStatus status)
    {
        for (int i = 0; i < frames.Length; i++)
        {
            status = Transmit(in frames[i]);
            if (status != TransmitStatus.Sent) return i;
        }
        status = TransmitStatus.Sent;
        return frames.Length;
    }

    /// <summary>
    /// The device's controller is being started again while <see cref="BusState"/> is
    /// <see cref="CanBusState.BusOff"/> (the guest's CAN restart sends START). A transport that
    /// models the controller itself goes back on the bus; the default does nothing, because a
    /// host interface recovers on its own terms (SocketCAN: <c>restart-ms</c> or
    /// <c>ip link set ... type can restart</c> on the host).
    /// </summary>
    void Restart()
    {
    }

    /// <summary>
    /// Takes up to <c>frames.Length</c> frames from other bus members, in arrival order, without
    /// blocking; returns how many were written to the start of <paramref name="frames"/>.
    /// Never returns the transport's own transmissions as frames (the guest driver echoes its
    /// frames itself; the reference duplicated them, docs/spec/virtio-can.md §10.15) and never returns more than fit.
    /// <paramref name="confirmedTransmissions"/> counts own frames confirmed on the bus during
    /// this call (<see cref="TxConfirmation.Deferred"/> only; always 0 otherwise); they complete
    /// the oldest outstanding transmissions in send order. Error frames may be returned (the
    /// device drops them); bus-off and link changes also update <see cref="BusState"/>.
    /// A device that stops calling Receive also stops receiving confirmations, so with LATE_TX_ACK
    /// it keeps draining (dropping frames it has no guest buffer for) while transmissions are pending.
    /// </summary>
    int Receive(Span<CanFrame> frames, out int confirmedTransmissions);

    /// <summary>
    /// Frames meant for this device that the transport discarded before <see cref="Receive"/>
    /// could take them (the virtual bus: a full inbox), since it was opened. Read by the device
    /// for its counters and logs; may be read from any thread.
    /// </summary>
    long Dropped => 0;

    /// <summary>
    /// The device has given up waiting for the confirmations of everything sent so far (STOP,
    /// bus-off, reset) and already answered those requests. Frames still queued may yet go out;
    /// their confirmations must not be counted for transmissions that come later. Transports that
    /// confirm at transmit have nothing to forget.
    /// </summary>
    void AbandonConfirmations() { }
}
