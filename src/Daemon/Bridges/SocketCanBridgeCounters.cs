using VhostDeviceCan.Device.Metrics;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>Why a SocketCAN bridge lost a frame.</summary>
public enum SocketCanDrop
{
    /// <summary>An FD frame from the bus for an interface whose MTU is CAN_MTU.</summary>
    FdOnClassic,
    /// <summary>The interface's transmit queue stayed full for longer than the bus's overrun bound.</summary>
    TxQueueFull,
    /// <summary>From the bus while the interface was down or gone.</summary>
    InterfaceDown,
    /// <summary>The kernel refused the frame for another reason (EINVAL: contents the interface cannot send).</summary>
    SendError,
}

/// <summary>A SocketCAN bridge's figures: frames each way and every frame lost, by reason.</summary>
public sealed class SocketCanBridgeCounters : BridgeFrameCounters
{
    private readonly long[] _dropped = new long[Enum.GetValues<SocketCanDrop>().Length];
    private long _receiveOverflows;
    private long _downs;

    /// <summary>Frames from the bus lost for <paramref name="reason"/>.</summary>
    public long Dropped(SocketCanDrop reason) => Volatile.Read(ref _dropped[(int)reason]);

    /// <summary>Frames on the interface the kernel dropped before the bridge read them, its socket's
    /// receive queue being full (SO_RXQ_OVFL; known once a later frame arrives).</summary>
    public long ReceiveOverflows => Volatile.Read(ref _receiveOverflows);

    /// <summary>Times the interface went down (or away) while bridged.</summary>
    public long Downs => Volatile.Read(ref _downs);

    internal void Drop(SocketCanDrop reason, int frames) => Interlocked.Add(ref _dropped[(int)reason], frames);
    internal void ReceiveOverflowsNow(long total) => Volatile.Write(ref _receiveOverflows, total);
    internal void WentDown() => Interlocked.Increment(ref _downs);

    public override void Report(List<BridgeCounter> counters)
    {
        ReportFrames(counters);
        ReportDropped(counters, "bus_refused", BusRefused);
        ReportDropped(counters, ["fd_on_classic", "tx_queue_full", "interface_down", "send_failed"], _dropped);
        ReportDropped(counters, "rx_overflow", ReceiveOverflows);
        ReportReceiveErrors(counters);
    }

    public override string ToString() =>
        $"frames in {FramesIn} out {FramesOut}; dropped: fd-on-classic {Dropped(SocketCanDrop.FdOnClassic)}, "
        + $"tx-queue-full {Dropped(SocketCanDrop.TxQueueFull)}, interface-down {Dropped(SocketCanDrop.InterfaceDown)}, "
        + $"rx-overflow {ReceiveOverflows}, send-error {Dropped(SocketCanDrop.SendError)}, bus-refused {BusRefused}; "
        + $"down {Downs} times, receive-errors {ReceiveErrors}";
}
