namespace VhostDeviceCan.Capture;

/// <summary>
/// How a device loop wakes a capture's sleeping writer without a system call per batch: only a
/// writer that announced its sleep is signalled, and only by the first producer to see it.
/// </summary>
internal sealed class WriterWake : IDisposable
{
    private readonly ManualResetEventSlim _event = new();
    private int _sleeping;

    /// <summary>Writer: called before its last look at the rings, so a producer either sees
    /// the announcement or the writer sees the producer's records.</summary>
    public void AnnounceSleep()
    {
        _event.Reset();
        Volatile.Write(ref _sleeping, 1);
    }

    /// <summary>Writer: sleeps until woken or <paramref name="timeout"/>.</summary>
    public void Sleep(TimeSpan timeout)
    {
        _event.Wait(timeout);
        Volatile.Write(ref _sleeping, 0);
    }

    /// <summary>Producers: wakes the writer if it announced a sleep; one producer pays for it.</summary>
    public void WakeIfSleeping()
    {
        if (Volatile.Read(ref _sleeping) == 1 && Interlocked.Exchange(ref _sleeping, 0) == 1) _event.Set();
    }

    /// <summary>Any thread: wakes the writer whatever it is doing (a stop).</summary>
    public void Wake()
    {
        Volatile.Write(ref _sleeping, 0);
        _event.Set();
    }

    public void Dispose() => _event.Dispose();
}
