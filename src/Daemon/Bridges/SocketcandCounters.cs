using VhostDeviceCan.Device.Metrics;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>Why a frame from the bus did not reach a socketcand client.</summary>
public enum SocketcandDrop
{
    /// <summary>The client's send queue was full: it does not read fast enough, or at all.</summary>
    SlowClient,
    /// <summary>CAN FD: the protocol has no syntax for it (docs/spec/socketcand.md §5).</summary>
    Fd,
    /// <summary>A remote frame: socketcand does not report them (docs/spec/socketcand.md §5).</summary>
    Remote,
    /// <summary>An error frame.</summary>
    ErrorFrame,
}

/// <summary>One socketcand bridge's figures: the frames of every bridge, its sessions and the
/// commands it could not follow.</summary>
public sealed class SocketcandCounters : BridgeFrameCounters
{
    private long _sessionsUp;
    private long _sessionsDown;
    private long _refused;
    private long _badSends;
    private long _unknownCommands;
    private long _tooLong;
    private readonly long[] _dropped = new long[Enum.GetValues<SocketcandDrop>().Length];

    /// <summary>Connections accepted and greeted.</summary>
    public long SessionsUp => Volatile.Read(ref _sessionsUp);
    public long SessionsDown => Volatile.Read(ref _sessionsDown);
    /// <summary>Connections closed at once because every session slot was taken.</summary>
    public long Refused => Volatile.Read(ref _refused);
    /// <summary><c>&lt; send &gt;</c> elements that did not parse.</summary>
    public long BadSends => Volatile.Read(ref _badSends);
    /// <summary>Elements answered with an error: unknown, or not offered here.</summary>
    public long UnknownCommands => Volatile.Read(ref _unknownCommands);
    /// <summary>Sessions closed for an element longer than the protocol allows.</summary>
    public long TooLong => Volatile.Read(ref _tooLong);
    public long Dropped(SocketcandDrop reason) => Volatile.Read(ref _dropped[(int)reason]);

    internal void SessionUp() => Interlocked.Increment(ref _sessionsUp);
    internal void SessionDown() => Interlocked.Increment(ref _sessionsDown);
    internal void RefusedSession() => Interlocked.Increment(ref _refused);
    internal void BadSend() => Interlocked.Increment(ref _badSends);
    internal void UnknownCommand() => Interlocked.Increment(ref _unknownCommands);
    internal void ElementTooLong() => Interlocked.Increment(ref _tooLong);
    internal void Drop(SocketcandDrop reason) => Interlocked.Increment(ref _dropped[(int)reason]);

    public override void Report(List<BridgeCounter> counters)
    {
        ReportFrames(counters);
        ReportDropped(counters, "bus_refused", BusRefused);
        ReportDropped(counters, ["slow_client", "fd", "remote", "error_frame"], _dropped);
        ReportSessions(counters, SessionsUp, Refused);
    }

    public override string ToString() =>
        $"sessions up {SessionsUp} down {SessionsDown} refused {Refused}, frames in {FramesIn} out {FramesOut}; "
        + $"dropped: slow-client {Dropped(SocketcandDrop.SlowClient)}, fd {Dropped(SocketcandDrop.Fd)}, remote {Dropped(SocketcandDrop.Remote)}, "
        + $"error-frame {Dropped(SocketcandDrop.ErrorFrame)}, bus-refused {BusRefused}; "
        + $"commands: bad-send {BadSends}, unknown {UnknownCommands}, too-long {TooLong}";
}
