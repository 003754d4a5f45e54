using VhostDeviceCan.Can.Cannelloni;
using VhostDeviceCan.Device.Metrics;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>What a bridge counts, whatever carries its frames (malformed input by the cannelloni
/// reasons, which only cannelloni bridges meet): written by the bridge's thread, read by the
/// SIGUSR2 report, the metrics and status from others.</summary>
public abstract class BridgeFrameCounters
{
    private long _framesIn;
    private long _framesOut;
    private long _sendDropped;
    private long _busRefused;
    private long _receiveErrors;
    private readonly long[] _malformed = new long[Enum.GetValues<CannelloniError>().Length];

    /// <summary>Frames from the peer put on the bus.</summary>
    public long FramesIn => Volatile.Read(ref _framesIn);
    /// <summary>Frames from the bus sent to the peer (queued to it, for socketcand: one per client).</summary>
    public long FramesOut => Volatile.Read(ref _framesOut);
    /// <summary>Frames not sent because the socket's buffer was full or the send failed.</summary>
    public long SendDropped => Volatile.Read(ref _sendDropped);
    /// <summary>Frames from the peer the bus refused (the bridge's member was down).</summary>
    public long BusRefused => Volatile.Read(ref _busRefused);
    public long ReceiveErrors => Volatile.Read(ref _receiveErrors);
    /// <summary>Input dropped (a datagram whole or from its first bad frame on; a TCP connection
    /// closed) for <paramref name="reason"/>.</summary>
    public long Malformed(CannelloniError reason) => Volatile.Read(ref _malformed[(int)reason]);

    internal void FramesSent(int frames) => Interlocked.Add(ref _framesOut, frames);
    internal void FramesToBus(int frames) => Interlocked.Add(ref _framesIn, frames);
    internal void SendFailed(int frames) => Interlocked.Add(ref _sendDropped, frames);
    internal void RefusedByBus(int frames) => Interlocked.Add(ref _busRefused, frames);
    internal void ReceiveFailed() => Interlocked.Increment(ref _receiveErrors);
    internal void MalformedInput(CannelloniError reason) => Interlocked.Increment(ref _malformed[(int)reason]);

    /// <summary>The counters as every bridge kind reports them (metrics and status): every call
    /// adds the same names and labels in the same order, frames in and out first.</summary>
    public abstract void Report(List<BridgeCounter> counters);

    private protected void ReportFrames(List<BridgeCounter> counters)
    {
        counters.Add(new(BridgeFamilies.Frames, BridgeFamilies.FramesHelp, "direction", "in", FramesIn));
        counters.Add(new(BridgeFamilies.Frames, BridgeFamilies.FramesHelp, "direction", "out", FramesOut));
    }

    /// <summary>Frames dropped, by reason in Prometheus' label style.</summary>
    private protected static void ReportDropped(List<BridgeCounter> counters, string reason, long frames) =>
        counters.Add(new(BridgeFamilies.DroppedFrames, BridgeFamilies.DroppedFramesHelp, "reason", reason, frames));

    /// <summary>Frames dropped for a kind's own reasons: <paramref name="dropped"/>, indexed by its
    /// reason enum, labelled by <paramref name="reasons"/> in the enum's order.</summary>
    private protected static void ReportDropped(List<BridgeCounter> counters, ReadOnlySpan<string> reasons, long[] dropped)
    {
        for (int i = 0; i < reasons.Length; i++) ReportDropped(counters, reasons[i], Volatile.Read(ref dropped[i]));
    }

    /// <summary>Peers that came up (a connection whose handshake completed, a client greeted), and
    /// those refused because there was no place for them.</summary>
    private protected static void ReportSessions(List<BridgeCounter> counters, long up, long refused)
    {
        counters.Add(new(BridgeFamilies.Sessions, BridgeFamilies.SessionsHelp, "event", "up", up));
        counters.Add(new(BridgeFamilies.Sessions, BridgeFamilies.SessionsHelp, "event", "refused", refused));
    }

    private protected void ReportReceiveErrors(List<BridgeCounter> counters) =>
        counters.Add(new(BridgeFamilies.ReceiveErrors, BridgeFamilies.ReceiveErrorsHelp, null, null, ReceiveErrors));
}
