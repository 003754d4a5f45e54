using VhostDeviceCan.VirtioCanWire;

namespace VhostDeviceCan.Device;

/// <summary>The state of a virtio-can controller as the driver sees it (docs/spec/virtio-can.md §7).</summary>
public enum CanControllerState
{
    Stopped,
    Started,
    /// <summary>Stopped with the BUSOFF status bit set, until the driver's next START.</summary>
    BusOff,
}

/// <summary>
/// What other threads may observe of a running device (metrics, reports): every value here is
/// read without a lock and may be a moment old, but is never torn. The device's loop thread is
/// the only writer.
/// </summary>
public sealed partial class CanDevice
{
    private int _txRingSize;

    /// <summary>Time from a Txq request being taken off the ring to its completion in the used
    /// ring, whatever its result: immediate for a refusal, the bus's confirmation with LATE_TX_ACK,
    /// longer while the bus holds the sender back.</summary>
    public LatencyHistogram TxAckLatency { get; } = new();

    /// <summary>Txq requests taken off the ring and not yet returned in the used ring (held back
    /// by the bus or awaiting confirmation, or behind such a request).</summary>
    public int TxRequestsInFlight => _txPending.CountFromAnyThread;

    /// <summary>The Txq's size N as the driver set it when it last started the queue; 0 before.</summary>
    public int TxRingSize => Volatile.Read(ref _txRingSize);

    /// <summary>Received frames waiting in the device for the guest to post Rxq buffers.</summary>
    public int RxBacklogFrames => _rxBacklog.CountFromAnyThread;

    public int RxBacklogCapacity => _rxBacklog.Capacity;

    public CanControllerState ControllerState =>
        (Volatile.Read(ref _status) & VirtioCan.VIRTIO_CAN_S_CTRL_BUSOFF) != 0 ? CanControllerState.BusOff
        : Volatile.Read(ref _started) ? CanControllerState.Started
        : CanControllerState.Stopped;

    /// <summary>Device thread: remembers the Txq size for <see cref="TxRingSize"/>.</summary>
    private void NoteQueueStarted(int index)
    {
        if (index == VirtioCan.TxQueue && _context is not null)
            Volatile.Write(ref _txRingSize, _context.Queue(index).Queue.Size);
    }
}
