using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Interop.Tests;

public unsafe class UnixSocketTests
{
    /// <summary>Eventfds open in this process. Only eventfds, not every fd: other tests leave
    /// work behind that closes fds of its own later (FileSystemWatcher's inotify fd is closed by its
    /// thread after Dispose), which would make a count of all fds flaky.</summary>
    private static int EventFdsOpen() =>
        Directory.EnumerateFileSystemEntries("/proc/self/fd")
            .Count(fd => new FileInfo(fd).LinkTarget == "anon_inode:[eventfd]");

    [Fact]
    public void Passed_eventfd_is_the_same_kernel_object()
    {
        var (a, b) = UnixSocket.Pair();
        using (a)
        using (b)
        using (var original = new EventFd())
        using (var fds = new ReceivedFds())
        {
            a.Send([1, 2, 3], [original.Fd]);
            Span<byte> buffer = stackalloc byte[3];
            Assert.Equal(3, b.Receive(buffer, fds));
            Assert.Equal(1, fds.Count);

            using var received = new EventFd(fds.Take(0));
            Assert.NotEqual(original.Fd, received.Fd);
            Assert.True(received.Descriptor.IsCloseOnExec);
            received.Signal(9);
            Assert.Equal(9UL, original.Consume());
        }
    }

    [Fact]
    public void Peek_copies_waiting_bytes_and_leaves_them_and_their_fds_queued()
    {
        var (a, b) = UnixSocket.Pair();
        using (a)
        using (b)
        using (var original = new EventFd())
        using (var fds = new ReceivedFds())
        {
            Span<byte> peeked = stackalloc byte[4];
            Assert.Equal(0, b.Peek(peeked));
            int before = EventFdsOpen();
            a.Send([1, 2, 3, 4, 5, 6], [original.Fd]);
            Assert.Equal(4, b.Peek(peeked));
            Assert.Equal([1, 2, 3, 4], peeked.ToArray());
            Assert.Equal(before, EventFdsOpen());
            Assert.Equal(6, b.UnreadBytes());

            Span<byte> buffer = stackalloc byte[6];
            Assert.Equal(6, b.Receive(buffer, fds));
            Assert.Equal([1, 2, 3, 4, 5, 6], buffer.ToArray());
            Assert.Equal(1, fds.Count);
        }
    }

    [Fact]
    public void A_send_that_must_not_wait_fails_with_eagain_on_a_full_socket()
    {
        var (a, b) = UnixSocket.Pair();
        using (a)
        using (b)
        {
            var chunk = new byte[4096];
            var error = Assert.Throws<SyscallException>(() =>
            {
                // Nobody reads b: the buffers fill within a few hundred kilobytes.
                for (int i = 0; i < 100_000; i++) a.Send(chunk, dontWait: true);
            });
            Assert.Equal(Errno.EAGAIN, error.ErrorNumber);
        }
    }

    [Fact]
    public void After_shutting_down_writes_the_peer_reads_end_of_file_and_can_still_answer()
    {
        var (a, b) = UnixSocket.Pair();
        using (a)
        using (b)
        {
            a.Send([7]);
            a.ShutdownWrite();
            Span<byte> buffer = stackalloc byte[4];
            Assert.Equal(1, b.Receive(buffer, null));
            Assert.Equal(0, b.Receive(buffer, null));
            b.Send([8, 9]);
            Assert.Equal(2, a.Receive(buffer[..2], null, waitAll: true));
            Assert.Equal([8, 9], buffer[..2].ToArray());
        }
    }

    [Fact]
    public void Untaken_fds_are_closed_on_dispose()
    {
        var (a, b) = UnixSocket.Pair();
        using (a)
        using (b)
        using (var source = new EventFd())
        {
            int before = EventFdsOpen();
            var fds = new ReceivedFds();
            a.Send([0], [source.Fd, source.Fd, source.Fd]);
            b.Receive(stackalloc byte[1], fds);
            Assert.Equal(3, fds.Count);
            Assert.Equal(before + 3, EventFdsOpen());
            fds.Take(1).Dispose();
            fds.Dispose();
            Assert.Equal(before, EventFdsOpen());
            Assert.Throws<InvalidOperationException>(() => fds.Take(0));
        }
    }

    [Fact]
    public void More_fds_than_the_control_buffer_holds_is_an_error_not_a_leak()
    {
        var (a, b) = UnixSocket.Pair();
        using (a)
        using (b)
        using (var source = new EventFd())
        using (var fds = new ReceivedFds())
        {
            var many = Enumerable.Repeat(source.Fd, ReceivedFds.Capacity + 8).ToArray();
            a.Send([0], many);
            int before = EventFdsOpen();
            var error = Assert.Throws<SyscallException>(() => b.Receive(stackalloc byte[1], fds));
            Assert.Contains("truncated", error.Message);
            fds.Dispose();
            Assert.Equal(before, EventFdsOpen());
        }
    }

    [Fact]
    public void Listen_accept_connect_round_trip()
    {
        string path = Path.Combine(Path.GetTempPath(), $"vdc-test-{Guid.NewGuid():N}.sock");
        try
        {
            using var listener = UnixSocket.Listen(path);
            using var client = UnixSocket.Connect(path);
            using var server = listener.Accept()!;
            client.Send("hello"u8);
            var buffer = new byte[5];
            using var fds = new ReceivedFds();
            Assert.True(server.ReceiveExactly(buffer, fds));
            Assert.Equal("hello"u8.ToArray(), buffer);
            client.Dispose();
            Assert.False(server.ReceiveExactly(buffer, fds));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Connect_to_missing_socket_names_the_path()
    {
        var error = Assert.Throws<SyscallException>(() => UnixSocket.Connect("/nonexistent/dir/x.sock"));
        Assert.Contains("/nonexistent/dir/x.sock", error.Message);
        Assert.Equal(Errno.ENOENT, error.ErrorNumber);
    }
}

public class UnixSocketTimeoutTests
{
    [Fact]
    public void Receive_of_a_stalled_peer_times_out_with_eagain()
    {
        var (a, b) = UnixSocket.Pair();
        using (a)
        using (b)
        using (var fds = new ReceivedFds())
        {
            b.SetTimeouts(TimeSpan.FromMilliseconds(50));
            a.Send([1, 2]);
            var buffer = new byte[4];
            var error = Assert.Throws<SyscallException>(() => b.ReceiveExactly(buffer, fds));
            Assert.Equal(Errno.EAGAIN, error.ErrorNumber);
        }
    }
}

public class UnixSocketPeerTests
{
    [Fact]
    public void Peer_of_a_socket_pair_is_this_process()
    {
        var (a, b) = UnixSocket.Pair();
        using (a)
        using (b)
        {
            Assert.Equal(Environment.ProcessId, a.Peer!.Value.Pid);
            Assert.StartsWith($"pid {Environment.ProcessId} (", b.DescribePeer());
        }
    }
}

public class InheritedListenerTests
{
    [Fact]
    public void Only_a_listening_Unix_stream_socket_is_adopted()
    {
        string path = Path.Combine(Path.GetTempPath(), $"vdc-inherit-{Guid.NewGuid():N}.sock");
        try
        {
            using var listener = UnixSocket.Listen(path);
            Assert.Null(UnixSocket.CheckListeningFd(listener.Fd));

            var (left, right) = UnixSocket.Pair();
            using (left)
            using (right)
                Assert.Contains("not listening", UnixSocket.CheckListeningFd(left.Fd));
            using var eventFd = new EventFd();
            Assert.Contains("non-socket", UnixSocket.CheckListeningFd(eventFd.Fd));
            Assert.Contains("Bad file descriptor", UnixSocket.CheckListeningFd(1000));
            Assert.Contains("not a file descriptor", UnixSocket.CheckListeningFd(-1));
            var refused = Assert.Throws<ArgumentException>(() => UnixSocket.FromListeningFd(eventFd.Fd));
            Assert.Contains($"fd {eventFd.Fd}", refused.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void An_adopted_listener_becomes_close_on_exec_and_accepts()
    {
        string path = Path.Combine(Path.GetTempPath(), $"vdc-inherit-{Guid.NewGuid():N}.sock");
        try
        {
            using var original = UnixSocket.Listen(path);
            int inherited = Libc.dup(original.Fd);
            Assert.True(inherited >= 0);
            using var adopted = UnixSocket.FromListeningFd(inherited);
            Assert.True(adopted.Descriptor.IsCloseOnExec);
            using var client = UnixSocket.Connect(path);
            using var accepted = adopted.Accept();
            Assert.NotNull(accepted);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_socket_is_named_by_the_address_it_is_bound_to()
    {
        string path = Path.Combine(Path.GetTempPath(), $"vdc-bound-{Guid.NewGuid():N}.sock");
        try
        {
            using var listener = UnixSocket.Listen(path);
            Assert.Equal(path, UnixSocket.BoundPath(listener.Fd));
            // The accepted end has no name of its own; the connecting end neither.
            using var client = UnixSocket.Connect(path);
            Assert.Null(UnixSocket.BoundPath(client.Fd));
        }
        finally
        {
            File.Delete(path);
        }

        string name = $"vdc-abstract-{Guid.NewGuid():N}";
        using (var abstractSocket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified))
        {
            abstractSocket.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint("\0" + name));
            Assert.Equal("@" + name, UnixSocket.BoundPath((int)abstractSocket.Handle));
        }

        using var notSocket = new EventFd();
        Assert.Null(UnixSocket.BoundPath(notSocket.Fd));
        Assert.Null(UnixSocket.BoundPath(-1));
    }
}
