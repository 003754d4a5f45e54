using System.Runtime.InteropServices;

namespace VhostDeviceCan.Interop;

public static partial class Libc
{
    public const int EPOLL_CLOEXEC = 0x80000;
    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CTL_DEL = 2;
    public const int EPOLL_CTL_MOD = 3;
    public const uint EPOLLIN = 0x001;
    public const uint EPOLLOUT = 0x004;
    public const uint EPOLLERR = 0x008;
    public const uint EPOLLHUP = 0x010;
    public const uint EPOLLRDHUP = 0x2000;
    /// <summary>Edge-triggered: reported when the fd becomes ready (for a socket: when more data
    /// arrives), not for as long as it stays ready.</summary>
    public const uint EPOLLET = 0x80000000;

    /// <summary>struct epoll_event. The kernel declares it packed on x86_64 only (12 bytes), the one
    /// architecture this project builds for.</summary>
    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    public struct EpollEvent
    {
        public uint Events;
        public ulong Data;
    }

    [LibraryImport(LibraryName, SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport(LibraryName, SetLastError = true)]
    public static unsafe partial int epoll_ctl(int epfd, int op, int fd, EpollEvent* evt);

    [LibraryImport(LibraryName, SetLastError = true)]
    public static unsafe partial int epoll_wait(int epfd, EpollEvent* events, int maxEvents, int timeoutMs);
}
