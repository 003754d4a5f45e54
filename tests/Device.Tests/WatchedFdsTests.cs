using VhostDeviceCan.Backend;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Device.Tests;

/// <summary>A loop's fds in its own epoll set or in its group's, with the loop's tag on each token.</summary>
public class WatchedFdsTests
{
    private const ulong Tag = 3;

    [Fact]
    public void Fds_watched_before_joining_are_reported_by_the_groups_set_with_the_tag_and_by_the_own_set_after_leaving()
    {
        using var group = new Epoll();
        using var fds = new WatchedFds();
        using var kick = new EventFd();
        fds.Add(kick.Fd, token: 7);
        kick.Signal();
        Assert.Equal([7UL], Ready(fds));

        fds.JoinGroup(group, Tag);
        Assert.True(fds.InGroup);
        Assert.Equal([Tag << WatchedFds.TagShift | 7], Ready(group));
        Assert.Throws<InvalidOperationException>(() => Ready(fds));
        Assert.Equal(0, Count(fds.OwnFd));

        fds.LeaveGroup();
        Assert.Empty(Ready(group));
        Assert.Equal([7UL], Ready(fds));
    }

    [Fact]
    public void Fds_watched_modified_and_removed_while_in_a_group_change_the_groups_set()
    {
        using var group = new Epoll();
        using var fds = new WatchedFds();
        using var first = new EventFd();
        using var second = new EventFd();
        fds.JoinGroup(group, Tag);
        fds.Add(first.Fd, token: 1);
        fds.Add(second.Fd, token: 2);
        first.Signal();
        second.Signal();
        Assert.Equal([Tag << WatchedFds.TagShift | 1, Tag << WatchedFds.TagShift | 2], Ready(group).Order());

        fds.Modify(second.Fd, token: 9, Libc.EPOLLIN);
        fds.Remove(first.Fd);
        Assert.Equal([Tag << WatchedFds.TagShift | 9], Ready(group));

        fds.LeaveGroup();
        Assert.Equal([9UL], Ready(fds));
    }

    [Fact]
    public void An_fd_closed_without_being_removed_neither_doubles_its_reused_number_nor_fails_the_move()
    {
        using var group = new Epoll();
        using var fds = new WatchedFds();
        var closed = new EventFd();
        fds.Add(closed.Fd, token: 1);
        int number = closed.Fd;
        closed.Dispose();
        using var reused = new EventFd();
        if (reused.Fd == number)
        {
            fds.Add(reused.Fd, token: 2);
            reused.Signal();
            fds.JoinGroup(group, Tag);
            Assert.Equal([Tag << WatchedFds.TagShift | 2], Ready(group));
        }
        else
        {
            // The number was not handed out again: the closed fd alone must not fail the move.
            fds.JoinGroup(group, Tag);
            Assert.Empty(Ready(group));
        }
        fds.LeaveGroup();
        Assert.False(fds.InGroup);
    }

    [Fact]
    public void Tokens_and_tags_that_would_overlap_are_refused()
    {
        using var group = new Epoll();
        using var fds = new WatchedFds();
        using var kick = new EventFd();
        Assert.Throws<ArgumentOutOfRangeException>(() => fds.Add(kick.Fd, token: 1UL << WatchedFds.TagShift));
        Assert.Throws<ArgumentOutOfRangeException>(() => fds.JoinGroup(group, tag: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => fds.JoinGroup(group, tag: 1UL << (64 - WatchedFds.TagShift)));
    }

    private static ulong[] Ready(Epoll epoll)
    {
        var events = new Libc.EpollEvent[8];
        return [.. events.AsSpan(0, epoll.Wait(events, 0)).ToArray().Select(e => e.Data)];
    }

    private static ulong[] Ready(WatchedFds fds)
    {
        var events = new Libc.EpollEvent[8];
        return [.. events.AsSpan(0, fds.Wait(events, 0)).ToArray().Select(e => e.Data)];
    }

    /// <summary>How many events an epoll fd reports, asked through a probe set of its own.</summary>
    private static int Count(int epollFd)
    {
        using var probe = new Epoll();
        probe.Add(epollFd, 0);
        var events = new Libc.EpollEvent[1];
        return probe.Wait(events, 0);
    }
}
