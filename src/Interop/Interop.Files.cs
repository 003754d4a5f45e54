using System.Runtime.InteropServices;

namespace VhostDeviceCan.Interop;

/// <summary>Directory entries and their permissions: what putting a socket file in place with an
/// owner's chosen mode and group takes (<see cref="UnixSocket.Listen(string, SocketFileAccess, int)"/>).</summary>
public static partial class Libc
{
    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const int AT_REMOVEDIR = 0x200;
    public const int O_PATH = 0x200000;
    public const int O_CLOEXEC = 0x80000;
    public const uint RENAME_NOREPLACE = 1;

    /// <summary>struct group (grp.h): only gr_gid is read.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Group
    {
        public nint Name;
        public nint Password;
        public uint Gid;
        public nint Members;
    }

    [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int open(string path, int flags, uint mode);

    /// <summary>Creates a directory of mode 0700 from a template ending in XXXXXX, which it rewrites
    /// in place; returns the template or null.</summary>
    [LibraryImport(LibraryName, SetLastError = true)]
    public static unsafe partial byte* mkdtemp(byte* template);

    [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int fchmodat(int directoryFd, string path, uint mode, int flags);

    [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int fchownat(int directoryFd, string path, uint owner, uint group, int flags);

    [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int renameat2(int oldDirectoryFd, string oldPath, int newDirectoryFd, string newPath, uint flags);

    [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int linkat(int oldDirectoryFd, string oldPath, int newDirectoryFd, string newPath, int flags);

    [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int unlinkat(int directoryFd, string path, int flags);

    /// <summary>Returns 0 with <paramref name="result"/> null when no such group exists, or an errno
    /// value (ERANGE: <paramref name="buffer"/> too small).</summary>
    [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial int getgrnam_r(string name, Group* group, byte* buffer, nuint bufferLength, Group** result);
}
