using System.Runtime.InteropServices;

namespace VhostDeviceCan.Interop;

/// <summary>
/// errno values this project reacts to (asm-generic/errno-base.h, errno.h), and the one way every
/// message renders a failed call: "connect(/run/can.sock0): No such file or directory (ENOENT)",
/// what was attempted, the C library's text, the symbolic name a user can look up.
/// </summary>
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
    public const int EADDRINUSE = 98;
    public const int EAFNOSUPPORT = 97;
    public const int EPROTONOSUPPORT = 93;
    public const int EEXIST = 17;
    public const int ERANGE = 34;

    /// <summary>Symbolic names by number, as Linux numbers them on x86-64 and arm64 (the generic
    /// table); 41 and 58 are unused (EWOULDBLOCK and EDEADLOCK are aliases of 11 and 35).</summary>
    private static readonly string?[] Names =
    [
        null, "EPERM", "ENOENT", "ESRCH", "EINTR", "EIO", "ENXIO", "E2BIG", "ENOEXEC", "EBADF",
        "ECHILD", "EAGAIN", "ENOMEM", "EACCES", "EFAULT", "ENOTBLK", "EBUSY", "EEXIST", "EXDEV", "ENODEV",
        "ENOTDIR", "EISDIR", "EINVAL", "ENFILE", "EMFILE", "ENOTTY", "ETXTBSY", "EFBIG", "ENOSPC", "ESPIPE",
        "EROFS", "EMLINK", "EPIPE", "EDOM", "ERANGE", "EDEADLK", "ENAMETOOLONG", "ENOLCK", "ENOSYS", "ENOTEMPTY",
        "ELOOP", null, "ENOMSG", "EIDRM", "ECHRNG", "EL2NSYNC", "EL3HLT", "EL3RST", "ELNRNG", "EUNATCH",
        "ENOCSI", "EL2HLT", "EBADE", "EBADR", "EXFULL", "ENOANO", "EBADRQC", "EBADSLT", null, "EBFONT",
        "ENOSTR", "ENODATA", "ETIME", "ENOSR", "ENONET", "ENOPKG", "EREMOTE", "ENOLINK", "EADV", "ESRMNT",
        "ECOMM", "EPROTO", "EMULTIHOP", "EDOTDOT", "EBADMSG", "EOVERFLOW", "ENOTUNIQ", "EBADFD", "EREMCHG", "ELIBACC",
        "ELIBBAD", "ELIBSCN", "ELIBMAX", "ELIBEXEC", "EILSEQ", "ERESTART", "ESTRPIPE", "EUSERS", "ENOTSOCK", "EDESTADDRREQ",
        "EMSGSIZE", "EPROTOTYPE", "ENOPROTOOPT", "EPROTONOSUPPORT", "ESOCKTNOSUPPORT", "EOPNOTSUPP", "EPFNOSUPPORT", "EAFNOSUPPORT", "EADDRINUSE", "EADDRNOTAVAIL",
        "ENETDOWN", "ENETUNREACH", "ENETRESET", "ECONNABORTED", "ECONNRESET", "ENOBUFS", "EISCONN", "ENOTCONN", "ESHUTDOWN", "ETOOMANYREFS",
        "ETIMEDOUT", "ECONNREFUSED", "EHOSTDOWN", "EHOSTUNREACH", "EALREADY", "EINPROGRESS", "ESTALE", "EUCLEAN", "ENOTNAM", "ENAVAIL",
        "EISNAM", "EREMOTEIO", "EDQUOT", "ENOMEDIUM", "EMEDIUMTYPE", "ECANCELED", "ENOKEY", "EKEYEXPIRED", "EKEYREVOKED", "EKEYREJECTED",
        "EOWNERDEAD", "ENOTRECOVERABLE", "ERFKILL", "EHWPOISON",
    ];

    /// <summary>The errno of the last libc call made with SetLastError.</summary>
    public static int Last => Marshal.GetLastPInvokeError();

    /// <summary>"No such file or directory (ENOENT)": strerror's text, then the name.</summary>
    public static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} ({Name(errno)})";

    /// <summary>"<paramref name="attempted"/>: No such file or directory (ENOENT)", the form of every
    /// message about a failed system call.</summary>
    public static string Format(string attempted, int errno) => $"{attempted}: {Describe(errno)}";

    /// <summary>"ENOENT"; "errno 4095" for a number Linux does not define.</summary>
    public static string Name(int errno) =>
        errno >= 0 && errno < Names.Length && Names[errno] is { } name ? name : $"errno {errno}";
}

/// <summary>A failed system call: "bind(/run/can.sock0): Address already in use (EADDRINUSE)".</summary>
public sealed class SyscallException(string syscall, int errno)
    : IOException(Errno.Format(syscall, errno))
{
    public string Syscall { get; } = syscall;
    public int ErrorNumber { get; } = errno;

    public static SyscallException FromLast(string syscall) => new(syscall, VhostDeviceCan.Interop.Errno.Last);
}
