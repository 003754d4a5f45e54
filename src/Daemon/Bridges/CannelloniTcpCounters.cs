using VhostDeviceCan.Can.Cannelloni;
using VhostDeviceCan.Device.Metrics;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>A TCP bridge's figures: the frames and drops of every bridge, and its connections.</summary>
public sealed class CannelloniTcpCounters : BridgeFrameCounters
{
    private long _connections;
    private long _busy;
    private long _noPeer;
    private long _handshakeTimeouts;

    /// <summary>Connections whose handshake completed: the peer came up this many times.</summary>
    public long Connections => Volatile.Read(ref _connections);
    /// <summary>Clients a server closed at once because its one peer was connected.</summary>
    public long Busy => Volatile.Read(ref _busy);
    /// <summary>Frames from the bus dropped because no peer was up.</summary>
    public long NoPeer => Volatile.Read(ref _noPeer);
    /// <summary>Connections closed because the handshake had not come in time.</summary>
    public long HandshakeTimeouts => Volatile.Read(ref _handshakeTimeouts);

    internal void Connected() => Interlocked.Increment(ref _connections);
    internal void RefusedBusy() => Interlocked.Increment(ref _busy);
    internal void DroppedWithoutPeer(int frames) => Interlocked.Add(ref _noPeer, frames);
    internal void HandshakeTimedOut() => Interlocked.Increment(ref _handshakeTimeouts);

    public override void Report(List<BridgeCounter> counters)
    {
        ReportFrames(counters);
        ReportDropped(counters, "send_failed", SendDropped);
        ReportDropped(counters, "bus_refused", BusRefused);
        ReportDropped(counters, "no_peer", NoPeer);
        ReportSessions(counters, Connections, Busy);
        ReportReceiveErrors(counters);
    }

    public override string ToString() =>
        $"connections {Connections}, frames in {FramesIn} out {FramesOut}; "
        + $"dropped: no-peer {NoPeer} frames, send {SendDropped} frames, bus-refused {BusRefused} frames; "
        + $"closed: handshake {Malformed(CannelloniError.WrongHandshake)}, handshake-timeout {HandshakeTimeouts}, "
        + $"length {Malformed(CannelloniError.BadLength)}, busy {Busy}, receive-errors {ReceiveErrors}";
}
