using System.Runtime.InteropServices;

namespace VhostDeviceCan.Interop;

public static partial class Libc
{
    public const int EFD_SEMAPHORE = 0x1;
    public const int EFD_NONBLOCK = 0x800;
    public const int EFD_CLOEXEC = 0x80000;

    [LibraryImport(LibraryName, SetLastError = true)]
    public static partial int eventfd(uint initialValue, int flags);
}
