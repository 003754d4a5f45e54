namespace VhostDeviceCan.Interop;

/// <summary>An epoll instance. Each registered fd carries a caller-chosen 64-bit token.</summary>
public sealed class Epoll : IDisposable
{
    private readonly FileDescriptor _descriptor =
        FileDescriptor.Check(Libc.epoll_create1(Libc.EPOLL_CLOEXEC), "epoll_create1");

    public int Fd => _descriptor.Value;

    public void Add(int fd, ulong token, uint events = Libc.EPOLLIN) => Control(Libc.EPOLL_CTL_ADD, fd, token, events);
    public void Modify(int fd, ulong token, uint events) => Control(Libc.EPOLL_CTL_MOD, fd, token, events);

    /// <summary>Removes an fd; an fd that was never added or is already closed is not an error.</summary>
    // SAFETY: EPOLL_CTL_DEL ignores the event pointer; a local is passed for old kernels.
    public unsafe void Remove(int fd)
    {
        Libc.EpollEvent unused = default;
        Libc.epoll_ctl(Fd, Libc.EPOLL_CTL_DEL, fd, &unused);
    }

    // SAFETY: epoll_ctl reads the local event only.
    private unsafe void Control(int op, int fd, ulong token, uint events)
    {
        var evt = new Libc.EpollEvent { Events = events, Data = token };
        if (Libc.epoll_ctl(Fd, op, fd, &evt) < 0) throw SyscallException.FromLast("epoll_ctl");
    }

    /// <summary>Blocks until events arrive (timeout -1 = forever). EINTR is returned as 0 events.</summary>
    public unsafe int Wait(Span<Libc.EpollEvent> events, int timeoutMs = -1)
    {
        // SAFETY: events stays pinned while epoll_wait writes at most events.Length entries into it.
        fixed (Libc.EpollEvent* buffer = events)
        {
            int count = Libc.epoll_wait(Fd, buffer, events.Length, timeoutMs);
            if (count >= 0) return count;
            int errno = Errno.Last;
            return errno == Errno.EINTR ? 0 : throw new SyscallException("epoll_wait", errno);
        }
    }

    public void Dispose() => _descriptor.Dispose();
}
