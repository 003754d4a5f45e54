using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Interop.Tests;

public class EventFdAndEpollTests
{
    [Fact]
    public void Signals_accumulate_until_consumed()
    {
        using var eventFd = new EventFd();
        Assert.Equal(0UL, eventFd.Consume());
        Assert.True(eventFd.Signal());
        Assert.True(eventFd.Signal(4));
        Assert.Equal(5UL, eventFd.Consume());
        Assert.Equal(0UL, eventFd.Consume());
        Assert.True(eventFd.Descriptor.IsCloseOnExec);
    }

    [Fact]
    public void Epoll_reports_the_token_of_the_ready_fd_only()
    {
        using var epoll = new Epoll();
        using var quiet = new EventFd();
        using var ready = new EventFd();
        epoll.Add(quiet.Fd, token: 7);
        epoll.Add(ready.Fd, token: 42);
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[4];

        Assert.Equal(0, epoll.Wait(events, timeoutMs: 0));
        ready.Signal();
        int count = epoll.Wait(events, timeoutMs: 1000);

        Assert.Equal(1, count);
        Assert.Equal(42UL, events[0].Data);
        Assert.True((events[0].Events & Libc.EPOLLIN) != 0);
    }

    [Fact]
    public void Removed_fd_no_longer_wakes_epoll()
    {
        using var epoll = new Epoll();
        using var eventFd = new EventFd();
        epoll.Add(eventFd.Fd, token: 1);
        epoll.Remove(eventFd.Fd);
        eventFd.Signal();
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];
        Assert.Equal(0, epoll.Wait(events, timeoutMs: 0));
    }

    [Fact]
    public void Failed_syscall_names_itself_and_errno()
    {
        using var epoll = new Epoll();
        var error = Assert.Throws<SyscallException>(() => epoll.Add(fd: 1_000_000, token: 1));
        Assert.Equal("epoll_ctl", error.Syscall);
        Assert.Equal(Errno.EBADF, error.ErrorNumber);
        Assert.Equal("epoll_ctl: Bad file descriptor (EBADF)", error.Message);
    }
}

public class TimerFdTests
{
    [Fact]
    public void Armed_timer_wakes_epoll_once_and_disarmed_timer_never()
    {
        using var epoll = new Epoll();
        using var timer = new TimerFd();
        epoll.Add(timer.Fd, token: 5);
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];

        timer.Arm(TimeSpan.FromMilliseconds(10));
        Assert.Equal(1, epoll.Wait(events, timeoutMs: 2000));
        Assert.Equal(5UL, events[0].Data);
        Assert.Equal(1UL, timer.Consume());
        Assert.Equal(0, epoll.Wait(events, timeoutMs: 50));

        timer.Arm(TimeSpan.FromMilliseconds(20));
        timer.Disarm();
        Assert.Equal(0, epoll.Wait(events, timeoutMs: 100));
    }
}
