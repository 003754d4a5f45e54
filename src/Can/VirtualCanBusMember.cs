using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Can;

/// <summary>
/// One device's attachment to a <see cref="VirtualCanBus"/>: its <see cref="ICanTransport"/>.
/// Supports CAN FD always. On an untimed bus a frame is on the bus as soon as it is published to
/// the other inboxes: <see cref="Confirmation"/> is <see cref="TxConfirmation.AtTransmit"/>, a
/// LATE_TX_ACK request completes at once, and tags are never reported back. On a timed bus
/// (<see cref="VirtualCanBus.Timing"/>) a frame is offered to the bus's wire, which sends it when
/// it wins arbitration: <see cref="Confirmation"/> is <see cref="TxConfirmation.Deferred"/>, and
/// each frame's tag comes back from <see cref="Receive"/> once its last bit has left the wire.
/// </summary>
/// <remarks>
/// Wake-ups: <see cref="_signaled"/> is <see cref="Signalled"/> while an eventfd write is pending,
/// so a busy sender writes the eventfd only when the receiver has drained since. The sender
/// publishes its frames and then raises the flag from <see cref="Idle"/> (a full fence); the
/// receiver consumes the eventfd, then lowers the flag (a full fence) and then drains. Either the
/// sender's raise comes first, and the receiver's drain sees the frames, or the receiver's lowering
/// comes first, and the sender raises it and writes the eventfd: no frame is left without a
/// wake-up. The order of consume and lowering matters: lowered first, a sender could write in
/// between and the consume would take that write, leaving the flag raised over an empty eventfd.
/// An eventfd write that lands just after the receiver consumed causes at most one spurious,
/// empty wake-up.
/// A sender on the receiver's own thread (members of one bus served by one event-loop thread)
/// posts the wake-up to the receiver's <see cref="IReadinessHandler"/> instead: the flag becomes
/// <see cref="PostedLocally"/>, no eventfd is written, and the receiver, which reads on that thread
/// after the current event, has nothing to consume. If it does not read (its receiving paused),
/// <see cref="ILocalWake.Settle"/> writes the eventfd after all.
/// Back-pressure uses the same pairing the other way: a blocked sender sets the full member's
/// <see cref="_sendersWaiting"/> (a full fence) and then looks at its room again; the receiver
/// publishes its drain and then swaps the flag (a full fence). One of them sees the other, so a
/// blocked sender is never left waiting for a drain that already happened.
/// </remarks>
public sealed class VirtualCanBusMember : ICanTransport, ILocalWake
{
    /// <summary>Frames a member of a timed bus may have offered and not yet sent: its controller's
    /// transmit queue. Deep enough for a device's batch; the guest's own queue holds the rest.</summary>
    public const int DefaultTxQueueCapacity = 64;

    /// <summary>Outcomes waiting for the device. At least a device's largest virtqueue, so that with
    /// LATE_TX_ACK every awaited outcome fits; only a device that stops receiving can lose some.</summary>
    internal const int OutcomeCapacity = 1024;

    private readonly FrameRing _inbox;
    // Timed bus only: the wire, this member's offered frames and the outcomes of sent ones.
    private readonly TimedWire? _wire;
    private readonly SpscRing<TxOffer>? _offers;
    private readonly SpscRing<TxOutcome>? _outcomes;
    // Offers before this position were made before the controller went bus-off: never sent.
    private long _abortBefore;
    private long _lostOutcomes;
    private readonly EventFd _wake = new();
    private readonly TimerFd _retry;
    private int _signaled;
    private const int Idle = 0, Signalled = 1, PostedLocally = 2;
    private IReadinessHandler? _readinessHandler;
    private long _wakeUpsPosted;
    private int _busOffRequested;
    private bool _busOff;
    private long _dropped;
    private long _droppedWhileBusOff;
    private long _overruns;
    // Bus-side state, written by senders under the bus's publish lock and reset by the receiver.
    private long _fullSince;
    private int _overrun;
    private int _sendersWaiting;
    // This member as a sender: 1 while it waits for room (its retry timer is armed).
    private int _blocked;
    private volatile bool _disposed;

    internal VirtualCanBusMember(VirtualCanBus bus, int inboxCapacity, int txQueueCapacity)
    {
        Bus = bus;
        Name = "vbus:" + bus.Name;
        try
        {
            _inbox = new FrameRing(inboxCapacity);
            _retry = new TimerFd();
            _wire = bus.Wire;
            if (_wire is not null)
            {
                _offers = new SpscRing<TxOffer>(txQueueCapacity);
                _outcomes = new SpscRing<TxOutcome>(OutcomeCapacity);
            }
        }
        catch
        {
            _wake.Dispose();
            throw;
        }
    }

    public VirtualCanBus Bus { get; }

    /// <summary><c>vbus:NAME</c>.</summary>
    public string Name { get; }

    public bool SupportsFd => true;
    public TxConfirmation Confirmation => _wire is null ? TxConfirmation.AtTransmit : TxConfirmation.Deferred;

    /// <summary>This member's eventfd: readable while its inbox may hold frames.</summary>
    public int PollFd => _wake.Fd;

    /// <summary>A timer that fires when a member whose full inbox stopped this one's transmission
    /// has drained, or when that member's overrun bound runs out; on a timed bus, when the wire
    /// has taken half of this member's offered frames. Readable, never EPOLLOUT.</summary>
    public int WritePollFd => _retry.Fd;

    public uint WritePollEvents => Libc.EPOLLIN;

    /// <summary>True: frames wait in the inbox and a full inbox holds senders back.</summary>
    public bool HoldsBackSenders => true;

    /// <summary>Active while joined; BusOff from the first <see cref="Receive"/> after
    /// <see cref="InjectBusOff"/> until <see cref="Restart"/>; Down once disposed.</summary>
    public CanBusState BusState => _disposed ? CanBusState.Down : _busOff ? CanBusState.BusOff : CanBusState.Active;

    /// <summary>Frames lost for this member because it was overrun: it left its inbox full for
    /// longer than the bus's <see cref="VirtualCanBus.OverrunAfter"/>. Any thread.</summary>
    public long Dropped => Volatile.Read(ref _dropped);

    /// <summary>Frames the bus delivered to this member while its controller was bus-off, which it
    /// therefore never heard (see <see cref="InjectBusOff"/>). Any thread.</summary>
    public long DroppedWhileBusOff => Volatile.Read(ref _droppedWhileBusOff);

    /// <summary>Times this member was marked overrun. Any thread.</summary>
    public long Overruns => Volatile.Read(ref _overruns);

    /// <summary>True while this member is overrun: the bus drops its frames instead of waiting for it.</summary>
    public bool IsOverrun => Volatile.Read(ref _overrun) != 0;

    public int InboxCapacity => _inbox.Capacity;

    /// <summary>Frames waiting in the inbox; approximate while others transmit. Any thread.</summary>
    public int PendingCount => _inbox.Count;

    /// <summary>
    /// Fault injection, any thread: this member's controller goes bus-off, as a real one does
    /// after too many transmit errors. The owning device sees <see cref="CanBusState.BusOff"/>
    /// after its next <see cref="Receive"/> (the eventfd is woken for it) and stays off the bus,
    /// hearing and sending nothing, until the device calls <see cref="Restart"/>. There is no
    /// physical bus to fail, so this is the only way a virtual bus goes bus-off; it lets a guest's
    /// bus-off handling be exercised without hardware.
    /// </summary>
    public void InjectBusOff()
    {
        if (_disposed) return;
        // Published before the wake-up, which Receive consumes before reading the request
        // (the same fence pairing as frames, see remarks).
        Volatile.Write(ref _busOffRequested, 1);
        Wake();
    }

    /// <summary>The device that reads this member; wake-ups raised on its thread are posted to it
    /// instead of the eventfd (see remarks).</summary>
    public void SetReadinessHandler(IReadinessHandler? handler) => Volatile.Write(ref _readinessHandler, handler);

    /// <summary>Wake-ups posted to the reader on its own thread instead of the eventfd (see
    /// remarks). Any thread.</summary>
    public long WakeUpsPosted => Volatile.Read(ref _wakeUpsPosted);

    /// <summary>Back on the bus after bus-off: the guest restarted its controller.</summary>
    public void Restart() => _busOff = false;

    public TransmitStatus Transmit(in CanFrame frame, TxTag tag)
    {
        if (_disposed || _busOff) return TransmitStatus.Down;
        int sent = _wire is null ? Send(new ReadOnlySpan<CanFrame>(in frame)) : Offer(new ReadOnlySpan<CanFrame>(in frame), new ReadOnlySpan<TxTag>(in tag));
        return sent == 1 ? TransmitStatus.Sent : TransmitStatus.WouldBlock;
    }

    /// <summary>All frames go out in one pass: one eventfd write per woken member for the whole batch.
    /// Stops with <see cref="TransmitStatus.WouldBlock"/> where a member has no room; the frames
    /// before that point reached every member, the rest reached none.</summary>
    public int TransmitBatch(ReadOnlySpan<CanFrame> frames, ReadOnlySpan<TxTag> tags, out TransmitStatus status)
    {
        if (_disposed || _busOff)
        {
            status = TransmitStatus.Down;
            return 0;
        }
        int sent = _wire is null ? Send(frames) : Offer(frames, tags);
        status = sent == frames.Length ? TransmitStatus.Sent : TransmitStatus.WouldBlock;
        return sent;
    }

    /// <summary>
    /// Frames for <paramref name="target"/> only, another member of this bus, as if the bus had
    /// carried them (a recording played into one guest). Back-pressure as for
    /// <see cref="TransmitBatch"/>: <see cref="TransmitStatus.WouldBlock"/> arms the write fd.
    /// </summary>
    public int TransmitTo(VirtualCanBusMember target, ReadOnlySpan<CanFrame> frames, out TransmitStatus status)
    {
        if (_disposed || _busOff || target._disposed || !ReferenceEquals(target.Bus, Bus))
        {
            status = TransmitStatus.Down;
            return 0;
        }
        if (Interlocked.Exchange(ref _blocked, 0) != 0)
        {
            _retry.Disarm();
            _retry.Consume();
        }
        int sent = Bus.PublishTo(this, target, frames);
        status = sent == frames.Length ? TransmitStatus.Sent : TransmitStatus.WouldBlock;
        return sent;
    }

    private int Send(ReadOnlySpan<CanFrame> frames)
    {
        // A retry: whatever woke the timer is being acted on now.
        if (Interlocked.Exchange(ref _blocked, 0) != 0)
        {
            _retry.Disarm();
            _retry.Consume();
        }
        return Bus.Publish(this, frames);
    }

    /// <summary>Drains the inbox in arrival order. Outcomes only on a timed bus (on an untimed one
    /// publishing is the transmission).</summary>
    public int Receive(Span<CanFrame> frames, Span<TxOutcome> outcomes, out int outcomeCount)
    {
        outcomeCount = 0;
        if (_disposed) return 0;
        // A wake-up posted on this thread wrote no eventfd, and while it stands no other thread
        // writes one (they only raise the flag from Idle): nothing to consume. Otherwise always
        // consume, and only then lower the flag: a sender's write may land after the previous
        // consume (see remarks), and a level-triggered epoll would otherwise report the eventfd
        // forever. Lowering it first would let a sender raise it and write the eventfd in between,
        // and the consume here would swallow that write with the flag left raised: every later
        // sender would then see it raised and write nothing.
        if (Volatile.Read(ref _signaled) == PostedLocally) Interlocked.Exchange(ref _signaled, Idle);
        else
        {
            _wake.Consume();
            Interlocked.Exchange(ref _signaled, Idle);
        }
        if (Interlocked.Exchange(ref _busOffRequested, 0) != 0)
        {
            _busOff = true;
            // A bus-off controller abandons its transmit queue; the wire reports those frames as not sent.
            if (_offers is not null) Volatile.Write(ref _abortBefore, _offers.TailPosition);
        }
        if (_outcomes is not null)
        {
            outcomeCount = _outcomes.DequeueInto(outcomes);
            if (outcomeCount == outcomes.Length && _outcomes.HasItem) Wake();
        }
        if (_busOff)
        {
            // A bus-off controller hears nothing: what arrived meanwhile is gone, and counted.
            int discarded;
            while ((discarded = _inbox.DequeueInto(frames)) > 0) Interlocked.Add(ref _droppedWhileBusOff, discarded);
            Drained();
            return 0;
        }
        int count = _inbox.DequeueInto(frames);
        if (count > 0) Drained();
        // The caller's span was full, not the inbox empty: keep PollFd readable for the rest
        // (through the eventfd, as the handler is reading now and settles only its own post).
        if (count == frames.Length && _inbox.HasPublished) Wake(allowLocal: false);
        return count;
    }

    /// <summary>
    /// Receiver's thread, after taking frames. Once at most half full the member is taking frames
    /// again: it is no longer overrun, and senders that waited for its room retry. Waking only at
    /// half keeps a blocked sender from retrying for every few frames taken.
    /// </summary>
    private void Drained()
    {
        if (_inbox.Count > _inbox.Capacity / 2) return;
        Volatile.Write(ref _fullSince, 0);
        Volatile.Write(ref _overrun, 0);
        // Full fence after the dequeue's publication; pairs with WaitForRoom.
        if (Interlocked.Exchange(ref _sendersWaiting, 0) != 0) Bus.WakeBlockedSenders();
    }

    /// <summary>Timed bus, this member's thread: hands frames to the wire, as many as the transmit
    /// queue takes. When it takes fewer, the write fd fires once the wire has taken half.</summary>
    private int Offer(ReadOnlySpan<CanFrame> frames, ReadOnlySpan<TxTag> tags)
    {
        var offers = _offers!;
        if (Interlocked.Exchange(ref _blocked, 0) != 0)
        {
            _retry.Disarm();
            _retry.Consume();
        }
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        int offered = 0;
        while (offered < frames.Length
            && offers.TryEnqueue(new TxOffer { Frame = frames[offered], Tag = tags[offered], OfferedAt = now }))
        {
            offered++;
        }
        if (offered > 0) _wire!.Offered();
        if (offered < frames.Length)
        {
            // A full fence before looking at the queue again; pairs with the one in TakeOffer,
            // so the wire's taking either shows here or arms the retry.
            Interlocked.Exchange(ref _blocked, 1);
            if (offers.Count <= offers.Capacity / 2) ArmRetry(TimeSpan.Zero);
        }
        return offered;
    }

    /// <summary>Wire thread: this member's oldest offered frame still to send, its offer time and
    /// arbitration key. Offers abandoned at bus-off are reported as not sent and skipped.</summary>
    internal bool PeekOffer(out long offeredAt, out uint key)
    {
        var offers = _offers!;
        long abortBefore = Volatile.Read(ref _abortBefore);
        while (offers.HasItem)
        {
            ref readonly TxOffer offer = ref offers.Front;
            if (offers.HeadPosition < abortBefore)
            {
                Report(new TxOutcome(offer.Tag, Confirmed: false));
                offers.Dequeue();
                continue;
            }
            offeredAt = offer.OfferedAt;
            key = CanWireTime.ArbitrationKey(in offer.Frame);
            return true;
        }
        offeredAt = 0;
        key = 0;
        return false;
    }

    /// <summary>Wire thread, after <see cref="PeekOffer"/>: takes the frame it showed onto the wire.</summary>
    internal void TakeOffer(out CanFrame frame, out TxTag tag, out long offeredAt)
    {
        var offers = _offers!;
        ref readonly TxOffer offer = ref offers.Front;
        frame = offer.Frame;
        tag = offer.Tag;
        offeredAt = offer.OfferedAt;
        offers.Dequeue();
        // Pairs with the fence in Offer: a blocked device retries once half the queue is free.
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _blocked) != 0 && offers.Count <= offers.Capacity / 2) ArmRetry(TimeSpan.Zero);
    }

    /// <summary>Wire thread: the outcome of one of this member's frames, for its next <see cref="Receive"/>.</summary>
    internal void Report(in TxOutcome outcome)
    {
        if (!_outcomes!.TryEnqueue(in outcome)) Interlocked.Increment(ref _lostOutcomes);
        Wake();
    }

    /// <summary>Timed bus: outcomes dropped because the device left more than <see cref="OutcomeCapacity"/> unread.</summary>
    public long LostOutcomes => Volatile.Read(ref _lostOutcomes);

    /// <summary>Timed bus: frames offered and not yet on the wire. Approximate from other threads.</summary>
    public int TxQueued => _offers?.Count ?? 0;

    /// <summary>Publish lock held. Room for frames now, or 0.</summary>
    internal int FreeSpace => _inbox.FreeSpace;

    /// <summary>
    /// Publish lock held, this member's inbox full: true when it has stayed full past the bus's
    /// bound, and is therefore marked overrun. Otherwise <paramref name="deadline"/> is when it will be.
    /// </summary>
    internal bool CheckOverrun(long now, long boundTicks, out long deadline)
    {
        long since = Volatile.Read(ref _fullSince);
        if (since == 0)
        {
            since = now;
            Volatile.Write(ref _fullSince, now);
        }
        deadline = since + boundTicks;
        if (now < deadline) return false;
        Volatile.Write(ref _overrun, 1);
        Interlocked.Increment(ref _overruns);
        return true;
    }

    /// <summary>Publish lock held: the member has room, so an old full-since mark is stale.</summary>
    internal void NoteRoom() => Volatile.Write(ref _fullSince, 0);

    /// <summary>Publish lock held, inbox full: asks to be told of the next drain. True when room
    /// appeared meanwhile (see remarks), so the sender should retry at once.</summary>
    internal bool WaitForRoom()
    {
        Interlocked.Exchange(ref _sendersWaiting, 1);
        return _inbox.FreeSpace > 0;
    }

    /// <summary>Sender's side: this member transmitted only part of a batch. Its write fd fires
    /// after <paramref name="delay"/>, or sooner when a member it waits for drains.</summary>
    internal void Block(TimeSpan delay)
    {
        // Armed before the flag is raised, so a drain's immediate re-arm can only come after it.
        ArmRetry(delay);
        Interlocked.Exchange(ref _blocked, 1);
    }

    /// <summary>Any thread: a member drained; retry now if waiting.</summary>
    internal void Unblock()
    {
        if (Volatile.Read(ref _blocked) != 0) ArmRetry(TimeSpan.Zero);
    }

    private void ArmRetry(TimeSpan delay)
    {
        // Another member's thread may arm this timer while its owner disposes it: the reference
        // count keeps the fd number from being reused meanwhile (as in Wake).
        bool referenced = false;
        try
        {
            _retry.Descriptor.DangerousAddRef(ref referenced);
            _retry.Arm(delay);
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            if (referenced) _retry.Descriptor.DangerousRelease();
        }
    }

    /// <summary>Sender's thread, publish lock held. Copies a batch into this inbox (the caller
    /// made sure it fits unless this member is overrun), then wakes the receiver once.</summary>
    internal void Deliver(ReadOnlySpan<CanFrame> frames)
    {
        int accepted = 0;
        foreach (ref readonly CanFrame frame in frames)
        {
            if (_inbox.TryEnqueue(in frame)) accepted++;
        }
        if (accepted != frames.Length) Interlocked.Add(ref _dropped, frames.Length - accepted);
        if (accepted != 0) Wake();
    }

    private void Wake(bool allowLocal = true)
    {
        IReadinessHandler? handler = allowLocal ? Volatile.Read(ref _readinessHandler) : null;
        bool local = handler is not null && handler.OnHandlerThread;
        // Full fence after the frames' publication; pairs with the exchange in Receive.
        if (Interlocked.CompareExchange(ref _signaled, local ? PostedLocally : Signalled, Idle) != Idle) return;
        if (local)
        {
            // Only the reader's thread posts, so a plain increment published for other readers.
            Volatile.Write(ref _wakeUpsPosted, _wakeUpsPosted + 1);
            handler!.Post(this);
        }
        // A sender may still hold a snapshot that contains this member after it left and closed its eventfd.
        else _wake.SignalUnlessDisposed();
    }

    void ILocalWake.Settle()
    {
        if (Interlocked.CompareExchange(ref _signaled, Signalled, PostedLocally) == PostedLocally) _wake.SignalUnlessDisposed();
    }

    /// <summary>Leaves the bus and closes the eventfd. Call from the owning thread.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Bus.Leave(this);
        // Whoever waited for this member's room waits no more.
        Bus.WakeBlockedSenders();
        _wake.Dispose();
        _retry.Dispose();
    }

    public override string ToString() =>
        $"{Name} (pending {PendingCount}, dropped {Dropped}{(IsOverrun ? ", overrun now" : "")}, overrun {Overruns} times (bound {Bus.OverrunAfter.TotalMilliseconds:0} ms), dropped while bus-off {DroppedWhileBusOff})"
        + (Bus.Timing is { } timing
            ? FormattableString.Invariant($"; bus {timing}: load {Bus.LoadLastSecond * 100:0.0} % over the last second, {Bus.LoadSinceStart * 100:0.0} % since start, {Bus.WireFrames} frames, this member's TX queue {TxQueued}")
            : "");
}
