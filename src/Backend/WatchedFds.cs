using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Backend;

/// <summary>
/// The fds one <see cref="DeviceEventLoop"/> watches, and the epoll set they are in: the loop's
/// own, or the one of the <see cref="DeviceLoopGroup"/> whose thread serves it. In a group every
/// token carries the loop's tag in its top bits, so that one epoll_wait on the group's set tells
/// which loop an event is for; a set of sets would cost a second epoll_wait per loop and wake-up.
/// The list of what is watched lets the fds move between sets when the loop joins or leaves.
/// </summary>
/// <remarks>Used by the thread that serves the loop, or before any thread serves it.</remarks>
internal sealed class WatchedFds : IDisposable
{
    /// <summary>Bits of a token left to the loop; a group's tag sits above them.</summary>
    public const int TagShift = 48;

    /// <summary>The bits of a token that are the loop's own.</summary>
    public const ulong TokenMask = (1UL << TagShift) - 1;

    private record struct Entry(int Fd, ulong Token, uint Events);

    private readonly Epoll _own = new();
    // Sized for a device's fds, a session's kick fds and a refused newcomer; a list searched in
    // place allocates nothing when the TX path starts and stops watching its write fd.
    private readonly List<Entry> _entries = new(32);
    private Epoll _set;
    private ulong _tag;

    public WatchedFds() => _set = _own;

    /// <summary>The loop's own epoll fd (only its own thread sleeps in it).</summary>
    public int OwnFd => _own.Fd;

    /// <summary>True while the fds are in a group's set.</summary>
    public bool InGroup => !ReferenceEquals(_set, _own);

    public void Add(int fd, ulong token, uint events = Libc.EPOLLIN)
    {
        CheckToken(token);
        _set.Add(fd, token | _tag, events);
        // An fd closed without being removed left the set by itself; its number may come back.
        int index = IndexOf(fd);
        if (index >= 0) _entries[index] = new Entry(fd, token, events);
        else _entries.Add(new Entry(fd, token, events));
    }

    public void Modify(int fd, ulong token, uint events)
    {
        CheckToken(token);
        _set.Modify(fd, token | _tag, events);
        int index = IndexOf(fd);
        if (index >= 0) _entries[index] = new Entry(fd, token, events);
    }

    /// <summary>Stops watching an fd; one not watched is not an error.</summary>
    public void Remove(int fd)
    {
        _set.Remove(fd);
        int index = IndexOf(fd);
        if (index >= 0) _entries.RemoveAt(index);
    }

    /// <summary>The loop's own thread: waits in the loop's own set.</summary>
    public int Wait(Span<Libc.EpollEvent> events, int timeoutMs)
    {
        if (InGroup) throw new InvalidOperationException("the loop's fds are in a group's epoll set");
        return _own.Wait(events, timeoutMs);
    }

    /// <summary>Moves every watched fd into <paramref name="set"/>, its tokens tagged with
    /// <paramref name="tag"/> (at least 1, below 2^16).</summary>
    public void JoinGroup(Epoll set, ulong tag)
    {
        if (tag == 0 || tag > ulong.MaxValue >> TagShift) throw new ArgumentOutOfRangeException(nameof(tag));
        MoveTo(set, tag << TagShift);
    }

    /// <summary>Moves every watched fd back into the loop's own set.</summary>
    public void LeaveGroup() => MoveTo(_own, 0);

    private void MoveTo(Epoll set, ulong tag)
    {
        if (ReferenceEquals(set, _set)) return;
        for (int i = _entries.Count - 1; i >= 0; i--)
        {
            Entry entry = _entries[i];
            _set.Remove(entry.Fd);
            try
            {
                set.Add(entry.Fd, entry.Token | tag, entry.Events);
            }
            catch (SyscallException)
            {
                // Closed without being removed: watched nowhere any more.
                _entries.RemoveAt(i);
            }
        }
        _set = set;
        _tag = tag;
    }

    private static void CheckToken(ulong token)
    {
        if (token > TokenMask) throw new ArgumentOutOfRangeException(nameof(token), "a loop's tokens stay below 2^48");
    }

    private int IndexOf(int fd)
    {
        for (int i = 0; i < _entries.Count; i++)
            if (_entries[i].Fd == fd) return i;
        return -1;
    }

    public void Dispose() => _own.Dispose();
}
