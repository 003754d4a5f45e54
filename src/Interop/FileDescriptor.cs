using System.Runtime.InteropServices;

namespace VhostDeviceCan.Interop;

/// <summary>An owned Linux file descriptor, closed exactly once.</summary>
public sealed class FileDescriptor : SafeHandle
{
    public FileDescriptor(int fd) : base(invalidHandleValue: -1, ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle == -1;

    /// <summary>The raw number, for syscalls. Valid while this object is not disposed.</summary>
    public int Value => (int)handle;

    protected override bool ReleaseHandle() => Libc.close((int)handle) == 0;

    public static FileDescriptor Check(int fd, string syscall) =>
        fd < 0 ? throw SyscallException.FromLast(syscall) : new FileDescriptor(fd);

    public void SetNonBlocking(bool nonBlocking)
    {
        int flags = Libc.fcntl(Value, Libc.F_GETFL, 0);
        if (flags < 0) throw SyscallException.FromLast("fcntl(F_GETFL)");
        flags = nonBlocking ? flags | Libc.O_NONBLOCK : flags & ~Libc.O_NONBLOCK;
        if (Libc.fcntl(Value, Libc.F_SETFL, flags) < 0) throw SyscallException.FromLast("fcntl(F_SETFL)");
    }

    public bool IsCloseOnExec => (Libc.fcntl(Value, Libc.F_GETFD, 0) & Libc.FD_CLOEXEC) != 0;

    /// <summary>Marks an inherited fd close-on-exec, like every fd this process opens itself.</summary>
    public void SetCloseOnExec()
    {
        int flags = Libc.fcntl(Value, Libc.F_GETFD, 0);
        if (flags < 0) throw SyscallException.FromLast("fcntl(F_GETFD)");
        if (Libc.fcntl(Value, Libc.F_SETFD, flags | Libc.FD_CLOEXEC) < 0) throw SyscallException.FromLast("fcntl(F_SETFD)");
    }

    /// <summary>
    /// The size of the file behind this fd when it is a regular file (memfd, tmpfs, hugetlbfs);
    /// false for anything else or when fstat fails.
    /// </summary>
    // SAFETY: fstat fills the local StatBuffer, which is at least as large as struct stat.
    public unsafe bool TryGetRegularFileSize(out long size)
    {
        Libc.StatBuffer stat = default;
        if (Libc.fstat(Value, &stat) < 0 || (stat.Mode & Libc.S_IFMT) != Libc.S_IFREG)
        {
            size = 0;
            return false;
        }
        size = stat.Size;
        return true;
    }

    /// <summary>
    /// Reads up to buffer.Length bytes at <paramref name="offset"/> without moving the file
    /// position (pread), so a file can be read again from its start. Returns the count, 0 at its end.
    /// </summary>
    public unsafe int ReadAt(Span<byte> buffer, long offset)
    {
        // SAFETY: buffer stays pinned while pread writes at most buffer.Length bytes into it.
        fixed (byte* bytes = buffer)
        {
            while (true)
            {
                nint count = Libc.pread(Value, bytes, (nuint)buffer.Length, offset);
                if (count >= 0) return (int)count;
                int errno = Errno.Last;
                if (errno != Errno.EINTR) throw new SyscallException("pread", errno);
            }
        }
    }

    /// <summary>How many fds this process has open (from /proc/self/fd), for leak checks.</summary>
    public static int CountOpen() => Directory.GetFiles("/proc/self/fd").Length;
}
