using VhostDeviceCan.Can.Cannelloni;
using VhostDeviceCan.Device.Metrics;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>One bridge's figures: written by its thread, read by the SIGUSR2 report from another.</summary>
public sealed class BridgeCounters
{
    private long _datagramsIn;
    private long _datagramsOut;
    private long _framesIn;
    private long _framesOut;
    private long _lost;
    private long _foreign;
    private long _sendDropped;
    private long _busRefused;
    private long _receiveErrors;
    private readonly long[] _malformed = new long[Enum.GetValues<CannelloniError>().Length];

    public long DatagramsIn => Volatile.Read(ref _datagramsIn);
    public long DatagramsOut => Volatile.Read(ref _datagramsOut);
    /// <summary>Frames from the peer put on the bus.</summary>
    public long FramesIn => Volatile.Read(ref _framesIn);
    /// <summary>Frames from the bus sent to the peer.</summary>
    public long FramesOut => Volatile.Read(ref _framesOut);
    /// <summary>Datagrams the peer's sequence numbers say never arrived (informational: UDP may also reorder).</summary>
    public long Lost => Volatile.Read(ref _lost);
    /// <summary>Datagrams from an address or port other than the peer's, dropped unread.</summary>
    public long Foreign => Volatile.Read(ref _foreign);
    /// <summary>Frames not sent because the socket's buffer was full or the send failed.</summary>
    public long SendDropped => Volatile.Read(ref _sendDropped);
    /// <summary>Frames from the peer the bus refused (the bridge's member was down).</summary>
    public long BusRefused => Volatile.Read(ref _busRefused);
    public long ReceiveErrors => Volatile.Read(ref _receiveErrors);
    /// <summary>Datagrams dropped, whole or from the first bad frame on, for <paramref name="reason"/>.</summary>
    public long Malformed(CannelloniError reason) => Volatile.Read(ref _malformed[(int)reason]);

    internal void DatagramIn() => Interlocked.Increment(ref _datagramsIn);
    internal void DatagramOut(int frames)
    {
        Interlocked.Increment(ref _datagramsOut);
        Interlocked.Add(ref _framesOut, frames);
    }
    internal void FramesToBus(int frames) => Interlocked.Add(ref _framesIn, frames);
    internal void SequenceGap(int missing) => Interlocked.Add(ref _lost, missing);
    internal void ForeignDatagram() => Interlocked.Increment(ref _foreign);
    internal void SendFailed(int frames) => Interlocked.Add(ref _sendDropped, frames);
    internal void RefusedByBus(int frames) => Interlocked.Add(ref _busRefused, frames);
    internal void ReceiveFailed() => Interlocked.Increment(ref _receiveErrors);
    internal void MalformedDatagram(CannelloniError reason) => Interlocked.Increment(ref _malformed[(int)reason]);

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
