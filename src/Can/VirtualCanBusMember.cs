using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Can;

/// <summary>
/// One device's attachment to a <see cref="VirtualCanBus"/>: its <see cref="ICanTransport"/>.
/// Supports CAN FD always. There is no physical bus, so a frame is on the bus as soon as it is
/// published to the other inboxes: <see cref="Confirmation"/> is
/// <see cref="TxConfirmation.AtTransmit"/>, a LATE_TX_ACK request completes at once, and tags are
/// never reported back.
/// </summary>
/// <remarks>
/// Wake-ups: <see cref="_signaled"/> is 1 while an eventfd write is pending, so a busy sender
/// writes the eventfd only when the receiver has drained since. The sender publishes its frames
/// and then swaps the flag to 1 (a full fence); the receiver consumes the eventfd, swaps the
/// flag to 0 (a full fence) and then drains. Either the sender's swap comes first, and the
/// receiver's drain sees the frames, or the receiver's swap comes first, and the sender sees 0
/// and writes the eventfd: no frame is left without a wake-up. An eventfd write that lands just
/// after the receiver consumed causes at most one spurious, empty wake-up.
/// </remarks>
public sealed class VirtualCanBusMember : ICanTransport
{
    private readonly FrameRing _inbox;
    private readonly EventFd _wake = new();
    private int _signaled;
    private int _busOffRequested;
    private bool _busOff;
    private long _dropped;
    private long _droppedWhileBusOff;
    private volatile bool _disposed;

    internal VirtualCanBusMember(VirtualCanBus bus, int inboxCapacity)
    {
        Bus = bus;
        Name = "vbus:" + bus.Name;
        try
        {
            _inbox = new FrameRing(inboxCapacity);
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
    public TxConfirmation Confirmation => TxConfirmation.AtTransmit;

    /// <summary>This member's eventfd: readable while its inbox may hold frames.</summary>
    public int PollFd => _wake.Fd;

    /// <summary>-1: a virtual bus transmission never blocks.</summary>
    public int WritePollFd => -1;

    /// <summary>Active while joined; BusOff from the first <see cref="Receive"/> after
    /// <see cref="InjectBusOff"/> until <see cref="Restart"/>; Down once disposed.</summary>
    public CanBusState BusState => _disposed ? CanBusState.Down : _busOff ? CanBusState.BusOff : CanBusState.Active;

    /// <summary>Frames lost for this member because its inbox was full. Any thread.</summary>
    public long Dropped => Volatile.Read(ref _dropped);

    /// <summary>Frames the bus delivered to this member while its controller was bus-off, which it
    /// therefore never heard (see <see cref="InjectBusOff"/>). Any thread.</summary>
    public long DroppedWhileBusOff => Volatile.Read(ref _droppedWhileBusOff);

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

    /// <summary>Back on the bus after bus-off: the guest restarted its controller.</summary>
    public void Restart() => _busOff = false;

    public TransmitStatus Transmit(in CanFrame frame, TxTag tag)
    {
        if (_disposed || _busOff) return TransmitStatus.Down;
        Bus.Publish(this, new ReadOnlySpan<CanFrame>(in frame));
        return TransmitStatus.Sent;
    }

    /// <summary>All frames go out in one pass: one eventfd write per woken member for the whole batch.</summary>
    public int TransmitBatch(ReadOnlySpan<CanFrame> frames, ReadOnlySpan<TxTag> tags, out TransmitStatus status)
    {
        if (_disposed || _busOff)
        {
            status = TransmitStatus.Down;
            return 0;
        }
        Bus.Publish(this, frames);
        status = TransmitStatus.Sent;
        return frames.Length;
    }

    /// <summary>Drains the inbox in arrival order. Never any outcomes (publishing is the transmission).</summary>
    public int Receive(Span<CanFrame> frames, Span<TxOutcome> outcomes, out int outcomeCount)
    {
        outcomeCount = 0;
        if (_disposed) return 0;
        // Always consume: a sender's write may land after the previous consume (see remarks),
        // and a level-triggered epoll would otherwise report the eventfd forever.
        _wake.Consume();
        Interlocked.Exchange(ref _signaled, 0);
        if (Interlocked.Exchange(ref _busOffRequested, 0) != 0) _busOff = true;
        if (_busOff)
        {
            // A bus-off controller hears nothing: what arrived meanwhile is gone, and counted.
            int discarded;
            while ((discarded = _inbox.DequeueInto(frames)) > 0) Interlocked.Add(ref _droppedWhileBusOff, discarded);
            return 0;
        }
        int count = _inbox.DequeueInto(frames);
        // The caller's span was full, not the inbox empty: keep PollFd readable for the rest.
        if (count == frames.Length && _inbox.HasPublished) Wake();
        return count;
    }

    /// <summary>Sender's thread. Copies a batch into this inbox, then wakes the receiver once.</summary>
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

    private void Wake()
    {
        // Full fence after the frames' publication; pairs with the exchange in Receive.
        if (Interlocked.Exchange(ref _signaled, 1) != 0) return;
        // A sender may still hold a snapshot that contains this member after it left and closed
        // its eventfd. The reference count keeps the fd number from being closed (and reused by
        // an unrelated open) while we write to it; once closed, the write is simply skipped.
        bool referenced = false;
        try
        {
            _wake.Descriptor.DangerousAddRef(ref referenced);
            _wake.Signal();
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            if (referenced) _wake.Descriptor.DangerousRelease();
        }
    }

    /// <summary>Leaves the bus and closes the eventfd. Call from the owning thread.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Bus.Leave(this);
        _wake.Dispose();
    }

    public override string ToString() => $"{Name} (pending {PendingCount}, dropped {Dropped}, dropped while bus-off {DroppedWhileBusOff})";
}
