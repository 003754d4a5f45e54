using VhostDeviceCan.Can;
using VhostDeviceCan.VirtioCanWire;

namespace VhostDeviceCan.Device;

/// <summary>What a device has done, for logs, metrics, the simulator's info command and tests.
/// Written by the device's own thread only; read from anywhere (values may be a moment old: a
/// reader on another thread uses <see cref="Volatile.Read(ref long)"/>, and 64-bit fields of a
/// class are aligned, so a value is never torn).</summary>
public sealed class CanDeviceCounters
{
    private readonly long[] _txRejected = new long[Enum.GetValues<TxVerdict>().Length];
    private readonly long[] _rxDropped = new long[Enum.GetValues<RxVerdict>().Length];

    public long TxFrames;
    /// <summary>Payload bytes of <see cref="TxFrames"/> (a remote frame carries none).</summary>
    public long TxBytes;
    public long TxNotOkStopped;
    /// <summary>The transport refused the frame: its interface is down or the controller bus-off.</summary>
    public long TxNotOkBusDown;
    /// <summary>With LATE_TX_ACK: the bus reported that a frame handed to it did not go out.</summary>
    public long TxNotConfirmed;
    /// <summary>Requests still waiting for their result (held back or unconfirmed) when the
    /// controller stopped, went bus-off or the Txq was stopped: answered NOT_OK.</summary>
    public long TxCancelled;
    public long TxMalformedChains;
    /// <summary>Refused because the identifier is outside the guest's TX filter.</summary>
    public long TxFiltered;
    /// <summary>Times a TX request had to wait in the ring for the guest's rate budget.</summary>
    public long TxThrottled;
    public long RxFrames;
    /// <summary>Payload bytes of <see cref="RxFrames"/> (a remote frame carries none).</summary>
    public long RxBytes;
    public long RxDroppedBacklogFull;
    /// <summary>Dropped by the transport before the device saw them (see ICanTransport.Dropped).</summary>
    public long RxDroppedOnBus;
    /// <summary>Lost by the transport while the controller was bus-off (see ICanTransport.DroppedWhileBusOff).</summary>
    public long RxDroppedBusOff;
    /// <summary>Arrived while the controller was stopped, or waited in the backlog when it stopped,
    /// went bus-off or the device was reset.</summary>
    public long RxDroppedWhileStopped;
    public long RxDroppedBufferTooSmall;
    /// <summary>Frames on the bus outside the guest's RX filter (not delivered, by design).</summary>
    public long RxFiltered;
    public long ControlRequests;
    public long ControlRejected;
    public long BusOffEvents;

    public long TxRejected(TxVerdict verdict) => Volatile.Read(ref _txRejected[(int)verdict]);
    public long RxDropped(RxVerdict verdict) => Volatile.Read(ref _rxDropped[(int)verdict]);
    public long TxRejectedTotal => _txRejected.Sum();
    public long RxDroppedUnsupportedTotal => _rxDropped.Sum();

    internal void CountRejected(TxVerdict verdict) => Volatile.Write(ref _txRejected[(int)verdict], _txRejected[(int)verdict] + 1);
    internal void CountDropped(RxVerdict verdict) => Volatile.Write(ref _rxDropped[(int)verdict], _rxDropped[(int)verdict] + 1);

    public override string ToString() =>
        $"tx {TxFrames} (rejected {TxRejectedTotal}, while stopped {TxNotOkStopped}, bus down {TxNotOkBusDown}, not confirmed {TxNotConfirmed}, cancelled {TxCancelled}, filtered {TxFiltered}, throttled {TxThrottled} times), "
        + $"rx {RxFrames} (dropped: backlog full {RxDroppedBacklogFull}, on the bus {RxDroppedOnBus}, while bus-off {RxDroppedBusOff}, stopped {RxDroppedWhileStopped}, "
        + $"unsupported {RxDroppedUnsupportedTotal}, small buffer {RxDroppedBufferTooSmall}), rx filtered {RxFiltered}, bus-off {BusOffEvents}";
}
