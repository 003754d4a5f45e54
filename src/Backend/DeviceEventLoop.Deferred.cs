using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Backend;

public sealed partial class DeviceEventLoop
{
    /// <summary>A device asks for one or two kinds of deferred event; a few slots are plenty.</summary>
    private const int MaxDeferredEvents = 4;

    private readonly ulong[] _deferred = new ulong[MaxDeferredEvents];
    private int _deferredCount;
    private int _servingThreadId;

    /// <summary>The managed id of the thread that serves this loop: its own in <see cref="Run"/>,
    /// a group's while in one. Set before that thread can see the loop.</summary>
    internal int ServingThreadId
    {
        get => Volatile.Read(ref _servingThreadId);
        set => Volatile.Write(ref _servingThreadId, value);
    }

    public bool IsLoopThread => Environment.CurrentManagedThreadId == ServingThreadId;

    public void RunAfterThisEvent(ulong token)
    {
        if (!IsLoopThread) throw new InvalidOperationException("deferred events are for the loop's own thread");
        if (token < FirstDeviceToken) throw new ArgumentOutOfRangeException(nameof(token), "device tokens start at FirstDeviceToken");
        for (int i = 0; i < _deferredCount; i++)
            if (_deferred[i] == token) return;
        if (_deferredCount == _deferred.Length) throw new InvalidOperationException($"more than {MaxDeferredEvents} kinds of deferred event");
        // The group runs its loops' deferred events in the order the loops first asked.
        if (_deferredCount == 0) DeferredEventsPending?.Invoke(this);
        _deferred[_deferredCount++] = token;
    }

    /// <summary>Set by the group that serves the loop: told when the loop, with none waiting, is
    /// asked for a deferred event. On the serving thread.</summary>
    internal Action<DeviceEventLoop>? DeferredEventsPending { get; set; }

    /// <summary>Serving thread: runs the deferred device events, oldest first, including those they
    /// ask for in turn. Each runs whether or not the front-end is still there: the device settles
    /// what it was told (a transport's wake-up), so none is lost.</summary>
    internal void RunDeferredEvents()
    {
        while (_deferredCount > 0)
        {
            ulong token = _deferred[0];
            _deferredCount--;
            Array.Copy(_deferred, 1, _deferred, 0, _deferredCount);
            RunDeviceEvent(token, Libc.EPOLLIN, deferred: true);
        }
    }
}
