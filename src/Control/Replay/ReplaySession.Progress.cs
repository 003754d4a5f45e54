namespace VhostDeviceCan.Control.Replay;

/// <summary>A replay's figures: written by its thread, read by the control thread at any time.</summary>
public sealed partial class ReplaySession
{
    private long _started;
    private long _lastSent;
    private long _frames;
    private long _late;
    private long _maxLateness;
    private int _passes;
    private volatile string? _result;
    private readonly ManualResetEventSlim _ended = new();

    /// <summary>Why it ended (<c>done</c>, <c>stopped</c>, or what went wrong); null while it runs.</summary>
    public string? Result => _result;

    public bool Running => _result is null;

    public bool WaitEnded(TimeSpan timeout) => _ended.Wait(timeout);

    private void Started(long now)
    {
        Volatile.Write(ref _started, now);
        Volatile.Write(ref _lastSent, now);
    }

    /// <summary>Frames just sent at <paramref name="now"/>, with the times they were due: lateness
    /// counts only when the log's timing is kept (not in --fast).</summary>
    private void Sent(ReadOnlySpan<long> due, long now)
    {
        if (!Options.Fast)
        {
            long late = 0, max = _maxLateness;
            foreach (long at in due)
            {
                long lateness = now - at;
                if (lateness > LateNanoseconds) late++;
                if (lateness > max) max = lateness;
            }
            if (late > 0) Interlocked.Add(ref _late, late);
            Volatile.Write(ref _maxLateness, max);
        }
        Volatile.Write(ref _lastSent, now);
        Interlocked.Add(ref _frames, due.Length);
    }

    private void Passed(int passes) => Volatile.Write(ref _passes, passes);

    private void Finish(string result)
    {
        _result = result;
        _ended.Set();
    }

    /// <summary>The figures as <c>replay</c>, <c>replays</c> and <c>replay-stop</c> report them.</summary>
    public ReplayInfo Info()
    {
        long started = Volatile.Read(ref _started);
        long elapsed = started == 0 ? 0 : Volatile.Read(ref _lastSent) - started;
        return new ReplayInfo(Id, Target, Running, Volatile.Read(ref _frames), FramesPerPass, Volatile.Read(ref _passes),
            Options.Passes == 0 ? null : Options.Passes, Options.Fast ? null : Options.Speed, Options.Interface,
            Math.Round(elapsed / 1e9, 6), Volatile.Read(ref _late), Options.Fast ? null : Math.Round(Volatile.Read(ref _maxLateness) / 1e6, 3),
            _result);
    }
}
