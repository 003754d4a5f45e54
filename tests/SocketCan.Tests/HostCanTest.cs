namespace VhostDeviceCan.SocketCan.Tests;

/// <summary>
/// A test class on the host's CAN interfaces: it needs AF_CAN, closes what each test opened (last
/// first), and then puts the interfaces back as the next test expects them.
/// </summary>
public abstract class HostCanTest : IDisposable
{
    /// <summary>How long a guest or a host node waits for what a test expects.</summary>
    private protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly List<IDisposable> _owned = [];

    private protected HostCanTest() => Vcan.RequireAfCan();

    /// <summary><paramref name="disposable"/>, closed when the test ends.</summary>
    private protected T Own<T>(T disposable) where T : IDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    public void Dispose()
    {
        foreach (var owned in Enumerable.Reverse(_owned)) owned.Dispose();
        RestoreInterfaces();
        GC.SuppressFinalize(this);
    }

    /// <summary>Undoes what a test may have done to the interfaces (down, a qdisc, another MTU).</summary>
    private protected abstract void RestoreInterfaces();
}
