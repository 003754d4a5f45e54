namespace VhostDeviceCan.Control.Replay;

/// <summary>
/// The replays running in one daemon, by id (numbers from 1, not reused while the daemon runs).
/// At most <see cref="MaxReplays"/> at once: each is a thread, a bus member and an open file, and
/// a bus with many more senders than guests is a test bench gone wrong. A replay leaves the hub
/// when it ends.
/// </summary>
public sealed class ReplayHub
{
    public const int MaxReplays = 8;

    private readonly Lock _lock = new();
    private readonly Dictionary<int, ReplaySession> _running = [];
    private int _lastId;
    private bool _closed;

    /// <summary>Makes a session with the next id (by <paramref name="create"/>), registers and starts
    /// it; <see cref="ControlErrors.TooManyReplays"/> when the hub is full or shut.</summary>
    public ReplaySession Start(Func<int, ReplaySession> create)
    {
        ReplaySession session;
        lock (_lock)
        {
            if (_closed) throw new ControlException(ControlErrors.Unsupported, "the daemon is shutting down");
            if (_running.Count >= MaxReplays)
                throw new ControlException(ControlErrors.TooManyReplays,
                    $"{MaxReplays} replays run already, the most this daemon runs at once; stop one (replay-stop) or wait for one to end");
            session = create(_lastId + 1);
            _lastId++;
            _running.Add(session.Id, session);
        }
        session.Ended = Ended;
        session.Start();
        return session;
    }

    private void Ended(ReplaySession session)
    {
        lock (_lock) _running.Remove(session.Id);
    }

    public IReadOnlyList<ReplaySession> Running
    {
        get
        {
            lock (_lock) return [.. _running.Values.OrderBy(s => s.Id)];
        }
    }

    public ReplaySession? Find(int id)
    {
        lock (_lock) return _running.GetValueOrDefault(id);
    }

    /// <summary>Stops every replay and waits for each to leave its bus; no replay starts after this.</summary>
    public void StopAll()
    {
        IReadOnlyList<ReplaySession> sessions;
        lock (_lock)
        {
            _closed = true;
            sessions = [.. _running.Values];
        }
        foreach (ReplaySession session in sessions) session.Stop();
        foreach (ReplaySession session in sessions) session.WaitEnded(TimeSpan.FromSeconds(5));
    }
}
