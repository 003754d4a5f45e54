using VhostDeviceCan.Can.Cannelloni;
using VhostDeviceCan.Device.Metrics;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>A UDP bridge's figures: the frames and drops of every bridge, and its datagrams.</summary>
public sealed class BridgeCounters : BridgeFrameCounters
{
    private long _datagramsIn;
    private long _datagramsOut;
    private long _lost;
    private long _foreign;

    public long DatagramsIn => Volatile.Read(ref _datagramsIn);
    public long DatagramsOut => Volatile.Read(ref _datagramsOut);
    /// <summary>Datagrams the peer's sequence numbers say never arrived (informational: UDP may also reorder).</summary>
    public long Lost => Volatile.Read(ref _lost);
    /// <summary>Datagrams from an address or port other than the peer's, dropped unread.</summary>
    public long Foreign => Volatile.Read(ref _foreign);

    internal void DatagramIn() => Interlocked.Increment(ref _datagramsIn);
    internal void DatagramOut(int frames)
    {
        Interlocked.Increment(ref _datagramsOut);
        FramesSent(frames);
    }
    internal void SequenceGap(int missing) => Interlocked.Add(ref _lost, missing);
    internal void ForeignDatagram() => Interlocked.Increment(ref _foreign);

    private static readonly (CannelloniError Reason, string Label)[] s_malformedDatagrams =
    [
        (CannelloniError.ShortHeader, "short_header"),
        (CannelloniError.WrongVersion, "wrong_version"),
        (CannelloniError.WrongOpCode, "wrong_op_code"),
        (CannelloniError.Truncated, "truncated"),
        (CannelloniError.BadLength, "bad_length"),
    ];

    public override void Report(List<BridgeCounter> counters)
    {
        ReportFrames(counters);
        counters.Add(new(BridgeFamilies.Datagrams, BridgeFamilies.DatagramsHelp, "direction", "in", DatagramsIn));
        counters.Add(new(BridgeFamilies.Datagrams, BridgeFamilies.DatagramsHelp, "direction", "out", DatagramsOut));
        ReportDropped(counters, "send_failed", SendDropped);
        ReportDropped(counters, "bus_refused", BusRefused);
        counters.Add(new(BridgeFamilies.DroppedDatagrams, BridgeFamilies.DroppedDatagramsHelp, "reason", "foreign", Foreign));
        foreach (var (reason, label) in s_malformedDatagrams)
            counters.Add(new(BridgeFamilies.DroppedDatagrams, BridgeFamilies.DroppedDatagramsHelp, "reason", label, Malformed(reason)));
        counters.Add(new(BridgeFamilies.SequenceGaps, BridgeFamilies.SequenceGapsHelp, null, null, Lost));
        ReportReceiveErrors(counters);
    }

    public override string ToString() =>
        $"datagrams in {DatagramsIn} out {DatagramsOut}, frames in {FramesIn} out {FramesOut}, lost (sequence gaps) {Lost}; "
        + $"dropped: foreign {Foreign}, short-header {Malformed(CannelloniError.ShortHeader)}, version {Malformed(CannelloniError.WrongVersion)}, "
        + $"op-code {Malformed(CannelloniError.WrongOpCode)}, truncated {Malformed(CannelloniError.Truncated)}, "
        + $"length {Malformed(CannelloniError.BadLength)}, send {SendDropped} frames, bus-refused {BusRefused} frames, receive-errors {ReceiveErrors}";
}
