using System.Runtime.InteropServices;

namespace VhostDeviceCan.Interop;

public static partial class Libc
{
    public const int AF_UNIX = 1;
    public const int SOCK_STREAM = 1;
    public const int SOCK_DGRAM = 2;
    public const int SOCK_RAW = 3;
    public const int SOCK_NONBLOCK = 0x800;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int SOL_SOCKET = 1;
    public const int IPPROTO_TCP = 6;
    /// <summary>netinet/tcp.h: milliseconds sent data may stay unacknowledged (or unsent for a zero
    /// window) before the kernel drops the connection; also bounds keep-alive probing.</summary>
    public const int TCP_USER_TIMEOUT = 18;
    public const int SO_RCVBUF = 8;
    public const int SO_SNDBUF = 7;
    public const int SO_PEERCRED = 17;
    public const int SO_RCVTIMEO = 20;
    public const int SO_SNDTIMEO = 21;
    public const int SO_TYPE = 3;
    public const int SO_ACCEPTCONN = 30;
    public const int SO_DOMAIN = 39;
    public const int SCM_RIGHTS = 1;
    public const int MSG_DONTROUTE = 0x4;
    public const int MSG_CONFIRM = 0x800;
    public const int MSG_CTRUNC = 0x8;
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_PEEK = 0x2;
    /// <summary>asm-generic/ioctls.h, the same on x86-64 and arm64; SIOCINQ for sockets.</summary>
    public const ulong FIONREAD = 0x541B;
    public const int MSG_WAITALL = 0x100;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int MSG_CMSG_CLOEXEC = 0x40000000;
    public const int SHUT_WR = 1;
    public const int SHUT_RDWR = 2;

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public unsafe void* Base;
        public nuint Length;
    }

    /// <summary>struct msghdr (LP64: 56 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public unsafe void* Name;
        public uint NameLength;
        public unsafe IoVec* Iov;
        public nuint IovLength;
        public unsafe void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    /// <summary>struct cmsghdr (LP64: 16 bytes, data follows 8-byte aligned).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct CmsgHdr
    {
        public nuint Length;
        public int Level;
        public int Type;
    }

    /// <summary>struct sockaddr_un: family then a 108-byte path.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SockAddrUn
    {
        public ushort Family;
        public unsafe fixed byte Path[108];
    }

    /// <summary>struct ucred (SO_PEERCRED).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct UCred
    {
        public int Pid;
        public uint Uid;
        public uint Gid;
    }

    /// <summary>struct timeval (LP64).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TimeVal
    {
        public long Seconds;
        public long Microseconds;
    }

    /// <summary>struct mmsghdr for recvmmsg / sendmmsg.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MMsgHdr
    {
        public MsgHdr Header;
        public uint Length;
    }

    public static int CmsgAlign(int length) => (length + 7) & ~7;
    // SAFETY: sizeof of a blittable struct only; no memory is touched.
    public static unsafe int CmsgSpace(int dataLength) => sizeof(CmsgHdr) + CmsgAlign(dataLength);
    // SAFETY: sizeof of a blittable struct only; no memory is touched.
    public static unsafe int CmsgLen(int dataLength) => sizeof(CmsgHdr) + dataLength;

    [LibraryImport(LibraryName, SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport(LibraryName, SetLastError = true)]
    public static unsafe partial int socketpair(int domain, int type, int protocol, int* fds);

    [LibraryImport(LibraryName, SetLastError = true)]
    public static unsafe partial int bind(int fd, void* address, uint addressLength);

    [LibraryImport(LibraryName, SetLastError = true)]
    public static partial int listen(int fd, int backlog);

    [LibraryImport(LibraryName, SetLastError = true)]
    public static unsafe partial int getsockname(int fd, void* address, uint* addressLength);

    [LibraryImport(LibraryName, SetLastError = true)]
    public static unsafe partial int accept4(int fd, void* address, uint* addressLength, int flags);

    [LibraryImport(LibraryName, SetLastError = true)]
    public static unsafe partial int connect(int fd, void* address, uint addressLength);

    [LibraryImport(LibraryName, SetLastError = true)]
    public static unsafe partial nint sendmsg(int fd, MsgHdr* message, int flags);

    [LibraryImport(LibraryName, SetLastError = true)]
    public static unsafe partial nint recvmsg(int fd, MsgHdr* message, int flags);

    [LibraryImport(LibraryName, SetLastError = true)]
    public static unsafe partial int recvmmsg(int fd, MMsgHdr* messages, uint count, int flags, void* timeout);

    [LibraryImport(LibraryName, SetLastError = true)]
    public static unsafe partial int sendmmsg(int fd, MMsgHdr* messages, uint count, int flags);

    [LibraryImport(LibraryName, SetLastError = true)]
    public static partial int shutdown(int fd, int how);

    [LibraryImport(LibraryName, SetLastError = true)]
    public static unsafe partial int setsockopt(int fd, int level, int name, void* value, uint valueLength);

    [LibraryImport(LibraryName, SetLastError = true)]
    public static unsafe partial int getsockopt(int fd, int level, int name, void* value, uint* valueLength);

    [LibraryImport(LibraryName, SetLastError = true)]
    public static unsafe partial int ioctl(int fd, ulong request, void* argument);
}
