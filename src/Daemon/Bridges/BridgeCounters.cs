using VhostDeviceCan.Can.Cannelloni;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>What every bridge counts, whatever it is joined to: written by its thread, read by
/// the SIGUSR2 report from another.</summary>
public class BridgeFrameCounters
{
    private long _framesIn;
    private long _framesOut;
    private long _busRefused;

    /// <summary>Frames from outside put on the bus.</summary>
    public long FramesIn => Volatile.Read(ref _framesIn);
    /// <summary>Frames from the bus passed on outside.</summary>
    public long FramesOut => Volatile.Read(ref _framesOut);
    /// <summary>Frames from outside the bus refused (the bridge's member was down).</summary>
    public long BusRefused => Volatile.Read(ref _busRefused);

    internal void FramesToBus(int frames) => Interlocked.Add(ref _framesIn, frames);
    internal void FramesFromBus(int frames) => Interlocked.Add(ref _framesOut, frames);
    internal void RefusedByBus(int frames) => Interlocked.Add(ref _busRefused, frames);
}

/// <summary>A cannelloni bridge's figures.</summary>
public sealed class BridgeCounters : BridgeFrameCounters
{
    private long _datagramsIn;
    private long _datagramsOut;
    private long _lost;
    private long _foreign;
    private long _sendDropped;
    private long _receiveErrors;
    private readonly long[] _malformed = new long[Enum.GetValues<CannelloniError>().Length];

    public long DatagramsIn => Volatile.Read(ref _datagramsIn);
    public long DatagramsOut => Volatile.Read(ref _datagramsOut);
    /// <summary>Datagrams the peer's sequence numbers say never arrived (informational: UDP may also reorder).</summary>
    public long Lost => Volatile.Read(ref _lost);
    /// <summary>Datagrams from an address or port other than the peer's, dropped unread.</summary>
    public long Foreign => Volatile.Read(ref _foreign);
    /// <summary>Frames not sent because the socket's buffer was full or the send failed.</summary>
    public long SendDropped => Volatile.Read(ref _sendDropped);
    public long ReceiveErrors => Volatile.Read(ref _receiveErrors);
    /// <summary>Datagrams dropped, whole or from the first bad frame on, for <paramref name="reason"/>.</summary>
    public long Malformed(CannelloniError reason) => Volatile.Read(ref _malformed[(int)reason]);

    internal void DatagramIn() => Interlocked.Increment(ref _datagramsIn);
    internal void DatagramOut(int frames)
    {
        Interlocked.Increment(ref _datagramsOut);
        FramesFromBus(frames);
    }
    internal void SequenceGap(int missing) => Interlocked.Add(ref _lost, missing);
    internal void ForeignDatagram() => Interlocked.Increment(ref _foreign);
    internal void SendFailed(int frames) => Interlocked.Add(ref _sendDropped, frames);
    internal void ReceiveFailed() => Interlocked.Increment(ref _receiveErrors);
    internal void MalformedDatagram(CannelloniError reason) => Interlocked.Increment(ref _malformed[(int)reason]);

    public override string ToString() =>
        $"datagrams in {DatagramsIn} out {DatagramsOut}, frames in {FramesIn} out {FramesOut}, lost (sequence gaps) {Lost}; "
        + $"dropped: foreign {Foreign}, short-header {Malformed(CannelloniError.ShortHeader)}, version {Malformed(CannelloniError.WrongVersion)}, "
        + $"op-code {Malformed(CannelloniError.WrongOpCode)}, truncated {Malformed(CannelloniError.Truncated)}, "
        + $"length {Malformed(CannelloniError.BadLength)}, send {SendDropped} frames, bus-refused {BusRefused} frames, receive-errors {ReceiveErrors}";
}
