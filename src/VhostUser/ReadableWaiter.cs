using VhostDeviceCan.Interop;

namespace VhostDeviceCan.VhostUser;

/// <summary>
/// Waits, with a timeout, until a socket has something to read (data, end of stream or an error),
/// so that a peer that never answers cannot hang the caller. One epoll instance with one fd,
/// created once per connection; waiting allocates nothing.
/// </summary>
internal sealed class ReadableWaiter : IDisposable
{
    private readonly Epoll _epoll = new();

    public ReadableWaiter(int fd, int? stopFd = null)
    {
        // EPOLLIN also reports a closed peer (recvmsg then returns 0), so HUP needs no own path.
        _epoll.Add(fd, token: 0, Libc.EPOLLIN | Libc.EPOLLRDHUP);
        if (stopFd is int stop) _epoll.Add(stop, token: 1);
    }

    /// <summary>
    /// True when the socket is readable, false when <paramref name="timeout"/> passed or the stop
    /// fd fired (see <see cref="Stopped"/>). EINTR only shortens one epoll_wait; the deadline holds.
    /// </summary>
    public bool Wait(TimeSpan timeout)
    {
        Stopped = false;
        long deadline = timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[2];
        while (true)
        {
            long remaining = deadline == long.MaxValue ? -1 : Math.Max(0, deadline - Environment.TickCount64);
            int count = _epoll.Wait(events, (int)Math.Min(remaining, int.MaxValue));
            for (int i = 0; i < count; i++)
            {
                if (events[i].Data == 1)
                {
                    Stopped = true;
                    return false;
                }
            }
            if (count > 0) return true;
            if (remaining == 0) return false;
        }
    }

    /// <summary>Whether the last <see cref="Wait"/> ended because the stop fd fired.</summary>
    public bool Stopped { get; private set; }

    public void Dispose() => _epoll.Dispose();
}
