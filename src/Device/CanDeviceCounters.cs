using VhostDeviceCan.Can;
using VhostDeviceCan.VirtioCanWire;

namespace VhostDeviceCan.Device;

/// <summary>What a device has done, for logs, the simulator's info command and tests.
/// Written by the device's own thread only; read from anywhere (values may be a moment old).</summary>
public sealed class CanDeviceCounters
{
    private readonly long[] _txRejected = new long[Enum.GetValues<TxVerdict>().Length];
    private readonly long[] _rxDropped = new long[Enum.GetValues<RxVerdict>().Length];

    public long TxFrames;
    public long TxNotOkStopped;
    public long TxNotOkBusDown;
    public long TxMalformedChains;
    /// <summary>Refused because the identifier is outside the guest's TX filter.</summary>
    public long TxFiltered;
    /// <summary>Times a TX request had to wait in the ring for the guest's rate budget.</summary>
    public long TxThrottled;
    public long RxFrames;
    public long RxDroppedBacklogFull;
    /// <summary>Dropped by the transport before the device saw them (see ICanTransport.Dropped).</summary>
    public long RxDroppedOnBus;
    /// <summary>Lost by the transport while the controller was bus-off (see ICanTransport.DroppedWhileBusOff).</summary>
    public long RxDroppedBusOff;
    public long RxDroppedWhileStopped;
    public long RxDroppedBufferTooSmall;
    /// <summary>Frames on the bus outside the guest's RX filter (not delivered, by design).</summary>
    public long RxFiltered;
    public long ControlRequests;
    public long ControlRejected;
    public long BusOffEvents;

    public long TxRejected(TxVerdict verdict) => _txRejected[(int)verdict];
    public long RxDropped(RxVerdict verdict) => _rxDropped[(int)verdict];
    public long TxRejectedTotal => _txRejected.Sum();
    public long RxDroppedUnsupportedTotal => _rxDropped.Sum();

    internal void CountRejected(TxVerdict verdict) => _txRejected[(int)verdict]++;
    internal void CountDropped(RxVerdict verdict) => _rxDropped[(int)verdict]++;

    public override string ToString() =>
        $"tx {TxFrames} (rejected {TxRejectedTotal}, while stopped {TxNotOkStopped}, bus down {TxNotOkBusDown}, filtered {TxFiltered}, throttled {TxThrottled} times), "
        + $"rx {RxFrames} (dropped: backlog full {RxDroppedBacklogFull}, on the bus {RxDroppedOnBus}, while bus-off {RxDroppedBusOff}, stopped {RxDroppedWhileStopped}, "
        + $"unsupported {RxDroppedUnsupportedTotal}, small buffer {RxDroppedBufferTooSmall}), rx filtered {RxFiltered}, bus-off {BusOffEvents}";
}
