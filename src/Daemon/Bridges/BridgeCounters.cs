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

    /// <summary>The counters as every bridge kind reports them (metrics and status); datagram
    /// drops by reason in Prometheus' label style.</summary>
    public void Report(List<BridgeCounter> counters)
    {
        counters.Add(new(BridgeFamilies.Frames, BridgeFamilies.FramesHelp, "direction", "in", FramesIn));
        counters.Add(new(BridgeFamilies.Frames, BridgeFamilies.FramesHelp, "direction", "out", FramesOut));
        counters.Add(new(BridgeFamilies.Datagrams, BridgeFamilies.DatagramsHelp, "direction", "in", DatagramsIn));
        counters.Add(new(BridgeFamilies.Datagrams, BridgeFamilies.DatagramsHelp, "direction", "out", DatagramsOut));
        counters.Add(new(BridgeFamilies.DroppedFrames, BridgeFamilies.DroppedFramesHelp, "reason", "send_failed", SendDropped));
        counters.Add(new(BridgeFamilies.DroppedFrames, BridgeFamilies.DroppedFramesHelp, "reason", "bus_refused", BusRefused));
        counters.Add(new(BridgeFamilies.DroppedDatagrams, BridgeFamilies.DroppedDatagramsHelp, "reason", "foreign", Foreign));
        counters.Add(new(BridgeFamilies.DroppedDatagrams, BridgeFamilies.DroppedDatagramsHelp, "reason", "short_header", Malformed(CannelloniError.ShortHeader)));
        counters.Add(new(BridgeFamilies.DroppedDatagrams, BridgeFamilies.DroppedDatagramsHelp, "reason", "wrong_version", Malformed(CannelloniError.WrongVersion)));
        counters.Add(new(BridgeFamilies.DroppedDatagrams, BridgeFamilies.DroppedDatagramsHelp, "reason", "wrong_op_code", Malformed(CannelloniError.WrongOpCode)));
        counters.Add(new(BridgeFamilies.DroppedDatagrams, BridgeFamilies.DroppedDatagramsHelp, "reason", "truncated", Malformed(CannelloniError.Truncated)));
        counters.Add(new(BridgeFamilies.DroppedDatagrams, BridgeFamilies.DroppedDatagramsHelp, "reason", "bad_length", Malformed(CannelloniError.BadLength)));
        counters.Add(new(BridgeFamilies.SequenceGaps, BridgeFamilies.SequenceGapsHelp, null, null, Lost));
        counters.Add(new(BridgeFamilies.ReceiveErrors, BridgeFamilies.ReceiveErrorsHelp, null, null, ReceiveErrors));
    }

    public override string ToString() =>
        $"datagrams in {DatagramsIn} out {DatagramsOut}, frames in {FramesIn} out {FramesOut}, lost (sequence gaps) {Lost}; "
        + $"dropped: foreign {Foreign}, short-header {Malformed(CannelloniError.ShortHeader)}, version {Malformed(CannelloniError.WrongVersion)}, "
        + $"op-code {Malformed(CannelloniError.WrongOpCode)}, truncated {Malformed(CannelloniError.Truncated)}, "
        + $"length {Malformed(CannelloniError.BadLength)}, send {SendDropped} frames, bus-refused {BusRefused} frames, receive-errors {ReceiveErrors}";
}
