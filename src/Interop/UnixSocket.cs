using System.Runtime.InteropServices;
using System.Text;

namespace VhostDeviceCan.Interop;

/// <summary>
/// An AF_UNIX stream socket that passes file descriptors (SCM_RIGHTS) with its data,
/// as the vhost-user protocol requires. Errors other than EINTR throw <see cref="SyscallException"/>.
/// </summary>
public sealed partial class UnixSocket : IDisposable
{
    public UnixSocket(FileDescriptor descriptor) => Descriptor = descriptor;

    public FileDescriptor Descriptor { get; }
    public int Fd => Descriptor.Value;

    // SAFETY: bind reads sizeof(SockAddrUn) bytes of the local address only.
    public static unsafe UnixSocket Listen(string path, int backlog = 1)
    {
        var socket = Create();
        try
        {
            var address = Address(path);
            if (Libc.bind(socket.Fd, &address, (uint)sizeof(Libc.SockAddrUn)) < 0)
                throw SyscallException.FromLast($"bind({path})");
            if (Libc.listen(socket.Fd, backlog) < 0) throw SyscallException.FromLast("listen");
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Adopts an inherited, already listening Unix stream socket (socket activation, --socket-fd).
    /// Anything else is refused with an ArgumentException saying what the fd is not; the fd is
    /// left open then, since it was never ours.
    /// </summary>
    public static UnixSocket FromListeningFd(int fd)
    {
        if (CheckListeningFd(fd) is { } problem) throw new ArgumentException(problem);
        var socket = new UnixSocket(new FileDescriptor(fd));
        socket.Descriptor.SetCloseOnExec();
        return socket;
    }

    /// <summary>Null when <paramref name="fd"/> is a listening Unix stream socket, else what it is not.</summary>
    public static string? CheckListeningFd(int fd)
    {
        if (fd < 0) return $"fd {fd} is not a file descriptor";
        if (!TryGetSocketOption(fd, Libc.SO_DOMAIN, out int domain))
            return $"fd {fd} is not a socket: {Errno.Format("getsockopt(SO_DOMAIN)", Errno.Last)}";
        if (domain != Libc.AF_UNIX || !TryGetSocketOption(fd, Libc.SO_TYPE, out int type) || type != Libc.SOCK_STREAM)
            return $"fd {fd} is not a Unix stream socket";
        if (!TryGetSocketOption(fd, Libc.SO_ACCEPTCONN, out int listening) || listening == 0)
            return $"fd {fd} is a Unix socket that is not listening (bind and listen before passing it)";
        return null;
    }

    /// <summary>The address a Unix socket is bound to (getsockname): its path, "@name" in the
    /// abstract namespace, or null when it is unnamed or not a Unix socket. An inherited socket
    /// is named in logs by it, as the operator configured it.</summary>
    // SAFETY: getsockname writes at most sizeof(SockAddrUn) bytes into the local address and the length it used into the local length.
    public static unsafe string? BoundPath(int fd)
    {
        var address = new Libc.SockAddrUn();
        uint length = (uint)sizeof(Libc.SockAddrUn);
        if (Libc.getsockname(fd, &address, &length) < 0 || address.Family != Libc.AF_UNIX) return null;
        int pathLength = (int)Math.Min(length, (uint)sizeof(Libc.SockAddrUn)) - sizeof(ushort);
        if (pathLength <= 0) return null;
        var path = new ReadOnlySpan<byte>(address.Path, pathLength);
        if (path[0] == 0) return "@" + Encoding.UTF8.GetString(path[1..]);
        int end = path.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? path : path[..end]);
    }

    // SAFETY: getsockopt writes at most length (4) bytes into the local int and updates the local length.
    private static unsafe bool TryGetSocketOption(int fd, int name, out int value)
    {
        int result = 0;
        uint length = sizeof(int);
        bool ok = Libc.getsockopt(fd, Libc.SOL_SOCKET, name, &result, &length) == 0;
        value = result;
        return ok;
    }

    // SAFETY: connect reads sizeof(SockAddrUn) bytes of the local address only.
    public static unsafe UnixSocket Connect(string path)
    {
        var socket = Create();
        var address = Address(path);
        if (Libc.connect(socket.Fd, &address, (uint)sizeof(Libc.SockAddrUn)) < 0)
        {
            int errno = Errno.Last;
            // Linux answers ECONNREFUSED for a path that is not a socket at all; say which it is.
            if (errno == Errno.ECONNREFUSED && !IsSocketPath(path)) errno = Errno.ENOTSOCK;
            socket.Dispose();
            throw new SyscallException($"connect({path})", errno);
        }
        return socket;
    }

    /// <summary>What a path names itself, without following a symbolic link: "socket",
    /// "regular file", "directory", "symbolic link" or "special file"; null when nothing is
    /// there. The daemon replaces only a socket file at its socket path.</summary>
    // SAFETY: lstat writes one StatBuffer into the local it is given.
    public static unsafe string? DescribePath(string path)
    {
        Libc.StatBuffer stat = default;
        if (Libc.lstat(path, &stat) < 0) return null;
        return (stat.Mode & Libc.S_IFMT) switch
        {
            Libc.S_IFSOCK => "socket",
            Libc.S_IFREG => "regular file",
            Libc.S_IFDIR => "directory",
            Libc.S_IFLNK => "symbolic link",
            _ => "special file",
        };
    }

    // SAFETY: stat writes one StatBuffer into the local it is given.
    private static unsafe bool IsSocketPath(string path)
    {
        Libc.StatBuffer stat = default;
        return Libc.stat(path, &stat) < 0 || (stat.Mode & Libc.S_IFMT) == Libc.S_IFSOCK;
    }

    // SAFETY: socketpair writes two ints into the two-int stack buffer.
    public static unsafe (UnixSocket, UnixSocket) Pair()
    {
        int* fds = stackalloc int[2];
        if (Libc.socketpair(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0, fds) < 0)
            throw SyscallException.FromLast("socketpair");
        return (new UnixSocket(new FileDescriptor(fds[0])), new UnixSocket(new FileDescriptor(fds[1])));
    }

    /// <summary>Accepts one connection (blocking unless the listener is non-blocking; then null on EAGAIN).</summary>
    // SAFETY: null address and length: accept4 writes no peer address.
    public unsafe UnixSocket? Accept()
    {
        while (true)
        {
            int fd = Libc.accept4(Fd, null, null, Libc.SOCK_CLOEXEC);
            if (fd >= 0) return new UnixSocket(new FileDescriptor(fd));
            int errno = Errno.Last;
            if (errno == Errno.EINTR) continue;
            if (errno == Errno.EAGAIN) return null;
            throw new SyscallException("accept4", errno);
        }
    }

    /// <summary>Sends all of <paramref name="data"/>; <paramref name="fds"/> ride with the first byte.
    /// With <paramref name="dontWait"/>, a full socket buffer fails with EAGAIN instead of waiting
    /// (possibly after part of the data went out).</summary>
    // SAFETY: the control buffer is stack memory of controlLength bytes; the header and the fds written into it stay inside CmsgSpace(fds) bytes.
    public unsafe void Send(ReadOnlySpan<byte> data, ReadOnlySpan<int> fds = default, bool dontWait = false)
    {
        int controlLength = fds.Length == 0 ? 0 : Libc.CmsgSpace(fds.Length * sizeof(int));
        byte* control = stackalloc byte[Math.Max(controlLength, 1)];
        // SAFETY: data stays pinned while sendmsg reads [bytes + sent, bytes + data.Length), never past its end.
        fixed (byte* bytes = data)
        {
            int sent = 0;
            do
            {
                var iov = new Libc.IoVec { Base = bytes + sent, Length = (nuint)(data.Length - sent) };
                var message = new Libc.MsgHdr { Iov = &iov, IovLength = 1 };
                if (sent == 0 && fds.Length > 0)
                {
                    new Span<byte>(control, controlLength).Clear();
                    var header = (Libc.CmsgHdr*)control;
                    header->Length = (nuint)Libc.CmsgLen(fds.Length * sizeof(int));
                    header->Level = Libc.SOL_SOCKET;
                    header->Type = Libc.SCM_RIGHTS;
                    fds.CopyTo(new Span<int>(control + sizeof(Libc.CmsgHdr), fds.Length));
                    message.Control = control;
                    message.ControlLength = (nuint)controlLength;
                }
                nint result = Libc.sendmsg(Fd, &message, Libc.MSG_NOSIGNAL | (dontWait ? Libc.MSG_DONTWAIT : 0));
                if (result < 0)
                {
                    int errno = Errno.Last;
                    if (errno == Errno.EINTR) continue;
                    throw new SyscallException("sendmsg", errno);
                }
                sent += (int)result;
            } while (sent < data.Length);
        }
    }

    /// <summary>
    /// One recvmsg into <paramref name="buffer"/>, collecting passed fds into <paramref name="fds"/>.
    /// Returns the byte count (0 at end of stream). Throws if the kernel truncated the control data
    /// (MSG_CTRUNC): fds would have been lost.
    /// </summary>
    // SAFETY: the kernel writes at most ControlLength bytes of control data into the stack buffer, which lives until CollectFds has read it.
    public unsafe int Receive(Span<byte> buffer, ReceivedFds? fds, bool waitAll = false, int flags = 0)
    {
        int controlLength = Libc.CmsgSpace(ReceivedFds.Capacity * sizeof(int));
        byte* control = stackalloc byte[controlLength];
        // SAFETY: buffer stays pinned while recvmsg writes at most buffer.Length bytes into it.
        fixed (byte* bytes = buffer)
        {
            while (true)
            {
                var iov = new Libc.IoVec { Base = bytes, Length = (nuint)buffer.Length };
                var message = new Libc.MsgHdr
                {
                    Iov = &iov,
                    IovLength = 1,
                    Control = control,
                    ControlLength = (nuint)controlLength,
                };
                nint result = Libc.recvmsg(Fd, &message, Libc.MSG_CMSG_CLOEXEC | (waitAll ? Libc.MSG_WAITALL : 0) | flags);
                if (result < 0)
                {
                    int errno = Errno.Last;
                    if (errno == Errno.EINTR) continue;
                    throw new SyscallException("recvmsg", errno);
                }
                CollectFds(&message, fds);
                if ((message.Flags & Libc.MSG_CTRUNC) != 0)
                    throw new SyscallException("recvmsg (control data truncated, fds lost)", Errno.EMFILE);
                return (int)result;
            }
        }
    }

    /// <summary>
    /// Copies up to buffer.Length of the bytes waiting, without taking them and without waiting;
    /// returns how many (0 when none wait). File descriptors riding with them stay queued for the
    /// <see cref="Receive"/> that takes the bytes: with no room for control data the kernel
    /// installs none.
    /// </summary>
    public unsafe int Peek(Span<byte> buffer)
    {
        // SAFETY: buffer stays pinned while recvmsg writes at most buffer.Length bytes into it.
        fixed (byte* bytes = buffer)
        {
            while (true)
            {
                var iov = new Libc.IoVec { Base = bytes, Length = (nuint)buffer.Length };
                var message = new Libc.MsgHdr { Iov = &iov, IovLength = 1 };
                nint result = Libc.recvmsg(Fd, &message, Libc.MSG_PEEK | Libc.MSG_DONTWAIT);
                if (result >= 0) return (int)result;
                int errno = Errno.Last;
                if (errno == Errno.EINTR) continue;
                if (errno == Errno.EAGAIN) return 0;
                throw new SyscallException("recvmsg(MSG_PEEK)", errno);
            }
        }
    }

    /// <summary>Reads exactly buffer.Length bytes, refusing any fds; false on a clean end of stream at byte 0.</summary>
    public bool ReceiveExactly(Span<byte> buffer, ReceivedFds fds)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = Receive(buffer[total..], fds, waitAll: true);
            if (n == 0)
            {
                if (total == 0) return false;
                throw new EndOfStreamException($"connection closed after {total} of {buffer.Length} bytes");
            }
            total += n;
        }
        return true;
    }

    // SAFETY: the walk stays inside [Control, Control + ControlLength) as the kernel filled it: each header must fit whole and claim no more than what is left, and a header shorter than itself ends the walk, so a bad length cannot loop or read outside the buffer.
    private static unsafe void CollectFds(Libc.MsgHdr* message, ReceivedFds? sink)
    {
        byte* cursor = (byte*)message->Control;
        byte* end = cursor + message->ControlLength;
        while (cursor + sizeof(Libc.CmsgHdr) <= end)
        {
            var header = (Libc.CmsgHdr*)cursor;
            if (header->Length < (nuint)sizeof(Libc.CmsgHdr) || cursor + header->Length > end) break;
            if (header->Level == Libc.SOL_SOCKET && header->Type == Libc.SCM_RIGHTS)
            {
                int n = (int)((header->Length - (nuint)sizeof(Libc.CmsgHdr)) / sizeof(int));
                int* fds = (int*)(cursor + sizeof(Libc.CmsgHdr));
                for (int i = 0; i < n; i++)
                {
                    // Without a sink every fd is unexpected: close it so it cannot leak.
                    if (sink is null) Libc.close(fds[i]);
                    else sink.Add(fds[i]);
                }
            }
            cursor += Libc.CmsgAlign((int)header->Length);
        }
    }

    /// <summary>Bounds how long a blocking receive or send may wait (SO_RCVTIMEO / SO_SNDTIMEO);
    /// a timed-out call fails with EAGAIN.</summary>
    // SAFETY: setsockopt reads sizeof(TimeVal) bytes of the local value only.
    public unsafe void SetTimeouts(TimeSpan timeout)
    {
        var value = new Libc.TimeVal
        {
            Seconds = (long)timeout.TotalSeconds,
            Microseconds = timeout.Microseconds + timeout.Milliseconds * 1000L,
        };
        if (Libc.setsockopt(Fd, Libc.SOL_SOCKET, Libc.SO_RCVTIMEO, &value, (uint)sizeof(Libc.TimeVal)) < 0)
            throw SyscallException.FromLast("setsockopt(SO_RCVTIMEO)");
        if (Libc.setsockopt(Fd, Libc.SOL_SOCKET, Libc.SO_SNDTIMEO, &value, (uint)sizeof(Libc.TimeVal)) < 0)
            throw SyscallException.FromLast("setsockopt(SO_SNDTIMEO)");
    }

    /// <summary>Bounds how long a blocking send may wait for room (SO_SNDTIMEO) only.</summary>
    // SAFETY: setsockopt reads sizeof(TimeVal) bytes of the local value only.
    public unsafe void SetSendTimeout(TimeSpan timeout)
    {
        var value = new Libc.TimeVal
        {
            Seconds = (long)timeout.TotalSeconds,
            Microseconds = timeout.Microseconds + timeout.Milliseconds * 1000L,
        };
        if (Libc.setsockopt(Fd, Libc.SOL_SOCKET, Libc.SO_SNDTIMEO, &value, (uint)sizeof(Libc.TimeVal)) < 0)
            throw SyscallException.FromLast("setsockopt(SO_SNDTIMEO)");
    }

    /// <summary>The process at the other end (SO_PEERCRED), for logs; null if the kernel cannot say.</summary>
    // SAFETY: getsockopt writes at most sizeof(UCred) bytes into the local credentials.
    public unsafe Libc.UCred? Peer
    {
        get
        {
            Libc.UCred credentials;
            uint length = (uint)sizeof(Libc.UCred);
            return Libc.getsockopt(Fd, Libc.SOL_SOCKET, Libc.SO_PEERCRED, &credentials, &length) == 0 ? credentials : null;
        }
    }

    /// <summary>"pid 1234 (qemu-system-x86)" for the peer, or "unknown peer".</summary>
    public string DescribePeer()
    {
        if (Peer is not { Pid: > 0 } peer) return "unknown peer";
        string command;
        try
        {
            command = File.ReadAllText($"/proc/{peer.Pid}/comm").Trim();
        }
        catch (IOException)
        {
            command = "?";
        }
        catch (UnauthorizedAccessException)
        {
            command = "?";
        }
        return $"pid {peer.Pid} ({command}), uid {peer.Uid}";
    }

    /// <summary>Bytes the peer sent that are still unread (FIONREAD), without reading them.</summary>
    // SAFETY: ioctl writes one int into the local.
    public unsafe int UnreadBytes()
    {
        int count = 0;
        if (Libc.ioctl(Fd, Libc.FIONREAD, &count) < 0) throw SyscallException.FromLast("ioctl(FIONREAD)");
        return count;
    }

    public void Shutdown() => Libc.shutdown(Fd, Libc.SHUT_RDWR);

    /// <summary>Ends the sending side only: the peer reads end-of-file once it has read everything
    /// sent before, and can still answer.</summary>
    public void ShutdownWrite() => Libc.shutdown(Fd, Libc.SHUT_WR);

    public void Dispose() => Descriptor.Dispose();

    private static UnixSocket Create() =>
        new(FileDescriptor.Check(Libc.socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0), "socket(AF_UNIX)"));

    // SAFETY: the path bytes are written into the 108-byte inline buffer through a span of exactly that length; the length check above keeps a terminating zero.
    private static unsafe Libc.SockAddrUn Address(string path)
    {
        var address = new Libc.SockAddrUn { Family = Libc.AF_UNIX };
        int length = Encoding.UTF8.GetByteCount(path);
        if (length == 0 || length >= 108)
            throw new ArgumentException($"socket path must be 1 to 107 bytes long: '{path}'", nameof(path));
        Encoding.UTF8.GetBytes(path, new Span<byte>(address.Path, 108));
        return address;
    }
}
