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

/// <summary>One socketcand bridge's figures: written by its thread, read by the SIGUSR2 report from another.</summary>
public sealed class SocketcandCounters
{
    private long _sessionsUp;
    private long _sessionsDown;
    private long _refused;
    private long _framesIn;
    private long _framesOut;
    private long _busRefused;
    private long _badSends;
    private long _unknownCommands;
    private long _tooLong;
    private readonly long[] _dropped = new long[Enum.GetValues<SocketcandDrop>().Length];

    /// <summary>Connections accepted and greeted.</summary>
    public long SessionsUp => Volatile.Read(ref _sessionsUp);
    public long SessionsDown => Volatile.Read(ref _sessionsDown);
    /// <summary>Connections closed at once because every session slot was taken.</summary>
    public long Refused => Volatile.Read(ref _refused);
    /// <summary>Frames from clients put on the bus.</summary>
    public long FramesIn => Volatile.Read(ref _framesIn);
    /// <summary>Frames from the bus queued to clients (one per client).</summary>
    public long FramesOut => Volatile.Read(ref _framesOut);
    /// <summary>Frames from clients the bus refused (its member was down).</summary>
    public long BusRefused => Volatile.Read(ref _busRefused);
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
    internal void FrameIn() => Interlocked.Increment(ref _framesIn);
    internal void FrameOut() => Interlocked.Increment(ref _framesOut);
    internal void RefusedByBus() => Interlocked.Increment(ref _busRefused);
    internal void BadSend() => Interlocked.Increment(ref _badSends);
    internal void UnknownCommand() => Interlocked.Increment(ref _unknownCommands);
    internal void ElementTooLong() => Interlocked.Increment(ref _tooLong);
    internal void Drop(SocketcandDrop reason) => Interlocked.Increment(ref _dropped[(int)reason]);

    public void Report(List<BridgeCounter> counters)
    {
        counters.Add(new(BridgeFamilies.Frames, BridgeFamilies.FramesHelp, "direction", "in", FramesIn));
        counters.Add(new(BridgeFamilies.Frames, BridgeFamilies.FramesHelp, "direction", "out", FramesOut));
        counters.Add(new(BridgeFamilies.DroppedFrames, BridgeFamilies.DroppedFramesHelp, "reason", "bus_refused", BusRefused));
        counters.Add(new(BridgeFamilies.DroppedFrames, BridgeFamilies.DroppedFramesHelp, "reason", "slow_client", Dropped(SocketcandDrop.SlowClient)));
        counters.Add(new(BridgeFamilies.DroppedFrames, BridgeFamilies.DroppedFramesHelp, "reason", "fd", Dropped(SocketcandDrop.Fd)));
        counters.Add(new(BridgeFamilies.DroppedFrames, BridgeFamilies.DroppedFramesHelp, "reason", "remote", Dropped(SocketcandDrop.Remote)));
        counters.Add(new(BridgeFamilies.DroppedFrames, BridgeFamilies.DroppedFramesHelp, "reason", "error_frame", Dropped(SocketcandDrop.ErrorFrame)));
        counters.Add(new(BridgeFamilies.Sessions, BridgeFamilies.SessionsHelp, "event", "up", SessionsUp));
        counters.Add(new(BridgeFamilies.Sessions, BridgeFamilies.SessionsHelp, "event", "refused", Refused));
    }

    public override string ToString() =>
        $"sessions up {SessionsUp} down {SessionsDown} refused {Refused}, frames in {FramesIn} out {FramesOut}; "
        + $"dropped: slow-client {Dropped(SocketcandDrop.SlowClient)}, fd {Dropped(SocketcandDrop.Fd)}, remote {Dropped(SocketcandDrop.Remote)}, "
        + $"error-frame {Dropped(SocketcandDrop.ErrorFrame)}, bus-refused {BusRefused}; "
        + $"commands: bad-send {BadSends}, unknown {UnknownCommands}, too-long {TooLong}";
}
