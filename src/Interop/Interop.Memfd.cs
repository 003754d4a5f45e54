using System.Runtime.InteropServices;

namespace VhostDeviceCan.Interop;

public static unsafe partial class Libc
{
    public const uint MFD_CLOEXEC = 0x1;
    public const uint MFD_ALLOW_SEALING = 0x2;

    [LibraryImport(LibraryName, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int memfd_create(string name, uint flags);
}
