namespace VhostDeviceCan.Interop;

/// <summary>
/// Raw Linux system calls. Every method returns what the C library returns (-1 on failure);
/// <see cref="Errno.Last"/> reads the errno of the last failed call. Nothing here throws:
/// the safe wrappers beside these files map errno to <see cref="SyscallException"/>.
/// </summary>
/// <remarks>Structures are laid out for x86_64 and aarch64 (LP64) Linux.</remarks>
public static partial class Libc
{
    private const string LibraryName = "libc";
}
