using System.Runtime.InteropServices;

namespace VhostDeviceCan.Interop;

/// <summary>errno values this project reacts to (asm-generic/errno-base.h, errno.h).</summary>
public static class Errno
{
    public const int EPERM = 1;
    public const int EACCES = 13;
    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int EBADF = 9;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int EFAULT = 14;
    public const int EINVAL = 22;
    public const int EMFILE = 24;
    public const int EPIPE = 32;
    public const int ENODEV = 19;
    public const int ENXIO = 6;
    public const int ENETDOWN = 100;
    public const int ENOBUFS = 105;
    public const int ECONNRESET = 104;
    public const int ENOTCONN = 107;
    public const int ECONNREFUSED = 111;
    public const int ENOTSOCK = 88;
    public const int EAFNOSUPPORT = 97;
    public const int EPROTONOSUPPORT = 93;
    public const int EEXIST = 17;
    public const int ERANGE = 34;

    /// <summary>The errno of the last libc call made with SetLastError.</summary>
    public static int Last => Marshal.GetLastPInvokeError();

    public static string Describe(int errno) => $"{Name(errno)} ({Marshal.GetPInvokeErrorMessage(errno)})";

    public static string Name(int errno) => errno switch
    {
        EPERM => "EPERM",
        EACCES => "EACCES",
        ENOENT => "ENOENT",
        EINTR => "EINTR",
        ENXIO => "ENXIO",
        EBADF => "EBADF",
        EAGAIN => "EAGAIN",
        ENOMEM => "ENOMEM",
        EFAULT => "EFAULT",
        ENODEV => "ENODEV",
        EINVAL => "EINVAL",
        EMFILE => "EMFILE",
        EPIPE => "EPIPE",
        EPROTONOSUPPORT => "EPROTONOSUPPORT",
        EAFNOSUPPORT => "EAFNOSUPPORT",
        ENETDOWN => "ENETDOWN",
        ECONNRESET => "ECONNRESET",
        ENOBUFS => "ENOBUFS",
        ENOTCONN => "ENOTCONN",
        ECONNREFUSED => "ECONNREFUSED",
        ENOTSOCK => "ENOTSOCK",
        EEXIST => "EEXIST",
        ERANGE => "ERANGE",
        _ => $"errno {errno}",
    };
}

/// <summary>A failed system call, named with its errno.</summary>
public sealed class SyscallException(string syscall, int errno)
    : IOException($"{syscall} failed: {Errno.Describe(errno)}")
{
    public string Syscall { get; } = syscall;
    public int ErrorNumber { get; } = errno;

    public static SyscallException FromLast(string syscall) => new(syscall, VhostDeviceCan.Interop.Errno.Last);
}
