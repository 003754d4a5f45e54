using System.Runtime.InteropServices;

namespace VhostDeviceCan.Interop;

public static partial class Libc
{
    public const uint MFD_CLOEXEC = 0x1;
    public const uint MFD_ALLOW_SEALING = 0x2;

    // fcntl commands for file seals (linux/fcntl.h: F_LINUX_SPECIFIC_BASE 1024 + 9 and + 10).
    public const int F_ADD_SEALS = 1033;
    public const int F_GET_SEALS = 1034;

    [LibraryImport(LibraryName, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int memfd_create(string name, uint flags);
}
