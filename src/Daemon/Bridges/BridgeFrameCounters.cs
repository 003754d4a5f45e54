using VhostDeviceCan.Can.Cannelloni;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>What a bridge counts, whatever carries its frames (malformed input by the cannelloni
/// reasons, which only cannelloni bridges meet): written by the bridge's thread, read by the
/// SIGUSR2 report from another.</summary>
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
    /// <summary>Frames from the bus sent to the peer.</summary>
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
}
