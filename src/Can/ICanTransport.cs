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
    /// An fd that is readable whenever <see cref="Receive"/> may return frames or transmission outcomes,
    /// or <see cref="BusState"/> may have changed. It must stay readable until a
    /// <see cref="Receive"/> has taken everything pending (so a level-triggered epoll never
    /// misses a frame), and it must not stay readable forever once nothing is pending (so the
    /// device never spins). Owned by the transport; valid until <see cref="IDisposable.Dispose"/>.
    /// </summary>
    int PollFd { get; }

    /// <summary>
    /// The fd to watch for EPOLLOUT after <see cref="TransmitStatus.WouldBlock"/>, or -1 if
    /// <see cref="Transmit"/> never returns WouldBlock. It is never <see cref="PollFd"/>: the device
    /// registers the two under different tokens. The device adds it only while it holds a blocked frame.
    /// </summary>
    int WritePollFd { get; }

    /// <summary>The epoll events that mean <see cref="WritePollFd"/> is ready: EPOLLOUT for a socket,
    /// EPOLLIN for a transport that signals room with a timer or eventfd.</summary>
    uint WritePollEvents => VhostDeviceCan.Interop.Libc.EPOLLOUT;

    /// <summary>
    /// True when frames the device leaves in the transport wait there without loss and hold their
    /// senders back (the virtual bus). The device then takes only what its receive backlog has
    /// room for while its controller runs, and stops watching <see cref="PollFd"/> while the
    /// backlog is full, so a guest that is slow to post receive buffers slows the bus instead of
    /// losing frames. False (SocketCAN): the kernel drops for a socket that does not read.
    /// </summary>
    bool HoldsBackSenders => false;

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
    /// <see cref="TxConfirmation.Deferred"/> at most one <see cref="TxOutcome"/> carrying
    /// <paramref name="tag"/> follows from <see cref="Receive"/>, in no promised order. On any
    /// other status nothing was sent and nothing will be reported. Never throws for bus conditions.
    /// </summary>
    TransmitStatus Transmit(in CanFrame frame, TxTag tag);

    /// <summary>
    /// Sends frames in order until one is not <see cref="TransmitStatus.Sent"/>; frame i carries
    /// <c>tags[i]</c> (<paramref name="tags"/> is at least as long as <paramref name="frames"/>).
    /// Returns how many were sent; <paramref name="status"/> is <see cref="TransmitStatus.Sent"/>
    /// when all were, else the status of the first frame not sent (which the caller handles as for
    /// <see cref="Transmit"/>). Implementations override it to batch wake-ups or system calls.
    /// </summary>
    int TransmitBatch(ReadOnlySpan<CanFrame> frames, ReadOnlySpan<TxTag> tags, out TransmitStatus status)
    {
        for (int i = 0; i < frames.Length; i++)
        {
            status = Transmit(in frames[i], tags[i]);
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
    /// Outcomes of earlier transmissions learnt during this call (<see cref="TxConfirmation.Deferred"/>
    /// only) go to the start of <paramref name="outcomes"/>, <paramref name="outcomeCount"/> of them;
    /// what does not fit waits for the next call, and the <see cref="PollFd"/> stays readable meanwhile.
    /// Both spans are non-empty; a caller that gets either one back full calls again.
    /// </summary>
    /// <remarks>
    /// The outcome contract, which lets the device stay right whatever the bus does:
    /// <list type="bullet">
    /// <item>A tag is reported only for a frame this transport sent with it, and only when the
    /// transport knows which frame an echo belongs to; an echo it cannot match reports nothing.</item>
    /// <item>Outcomes may come in any order, and a tag may never be reported (an echo the kernel
    /// dropped, an interface that went away): the device settles such requests itself on STOP,
    /// bus-off or reset.</item>
    /// <item>A tag may be reported after the device stopped waiting for it, or twice: the device
    /// ignores tags it has already settled.</item>
    /// </list>
    /// Error frames may be returned (the device drops them); bus-off and link changes also update
    /// <see cref="BusState"/>. A device that stops calling Receive also stops receiving outcomes,
    /// so with LATE_TX_ACK it keeps draining (dropping frames it has no guest buffer for) while
    /// transmissions are pending.
    /// </remarks>
    int Receive(Span<CanFrame> frames, Span<TxOutcome> outcomes, out int outcomeCount);

    /// <summary>
    /// Tells the transport who handles its readiness, so that a wake-up raised on that handler's
    /// own thread can skip the eventfd (<see cref="IReadinessHandler"/>); null forgets it. A
    /// transport whose frames always come from other threads or the kernel ignores it.
    /// </summary>
    void SetReadinessHandler(IReadinessHandler? handler)
    {
    }

    /// <summary>
    /// Frames meant for this device that the transport discarded before <see cref="Receive"/>
    /// could take them (the virtual bus: while the member was overrun), since it was opened. Read by the device
    /// for its counters and logs; may be read from any thread.
    /// </summary>
    long Dropped => 0;

    /// <summary>
    /// Frames meant for this device that the transport discarded because its controller was
    /// <see cref="CanBusState.BusOff"/>, since it was opened: a transport that models the
    /// controller (the virtual bus) counts what it stopped hearing. SocketCAN leaves it 0: what the
    /// kernel still delivers while a host controller is bus-off reaches the device, which counts it
    /// as dropped while stopped. Any thread.
    /// </summary>
    long DroppedWhileBusOff => 0;
}
