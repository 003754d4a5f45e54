using System.Runtime.InteropServices;

namespace VhostDeviceCan.Interop;

public static partial class Libc
{
    public const int PROT_READ = 0x1;
    public const int PROT_WRITE = 0x2;
    public const int MAP_SHARED = 0x01;
    public static readonly nint MAP_FAILED = -1;

    [LibraryImport(LibraryName, SetLastError = true)]
    public static partial nint mmap(nint address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport(LibraryName, SetLastError = true)]
    public static partial int munmap(nint address, nuint length);

    [LibraryImport(LibraryName, SetLastError = true)]
    public static partial long sysconf(int name);

    public const int _SC_PAGESIZE = 30;
}
