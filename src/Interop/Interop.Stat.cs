using System.Runtime.InteropServices;

namespace VhostDeviceCan.Interop;

public static partial class Libc
{
    public const uint S_IFMT = 0xF000;
    public const uint S_IFREG = 0x8000;
    public const uint S_IFSOCK = 0xC000;
    public const uint S_IFDIR = 0x4000;
    public const uint S_IFLNK = 0xA000;

    /// <summary>
    /// struct stat, as a raw buffer: its layout differs between architectures, and only st_dev,
    /// st_ino, st_mode, st_uid, st_gid and st_size are read.
    /// </summary>
    [StructLayout(LayoutKind.Sequential, Size = 256)]
    public struct StatBuffer
    {
        private byte _first;

        // x86-64: dev, ino, nlink (8 each), then mode; arm64 (the generic layout): dev, ino, then mode.
        // st_dev and st_ino are the first two 8-byte fields and st_size is at byte 48 on both.
        private static int ModeOffset => RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 24 : 16;
        // x86-64: uid and gid follow mode; arm64: mode, nlink (4 bytes), then uid and gid.
        private static int UidOffset => RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 28 : 24;
        private const int SizeOffset = 48;

        public readonly unsafe uint Mode
        {
            get
            {
                // SAFETY: the struct is 256 bytes, larger than struct stat on every supported architecture.
                fixed (byte* p = &_first) return *(uint*)(p + ModeOffset);
            }
        }

        public readonly unsafe uint Uid
        {
            get
            {
                // SAFETY: as for Mode.
                fixed (byte* p = &_first) return *(uint*)(p + UidOffset);
            }
        }

        public readonly unsafe uint Gid
        {
            get
            {
                // SAFETY: as for Mode.
                fixed (byte* p = &_first) return *(uint*)(p + UidOffset + sizeof(uint));
            }
        }

        public readonly unsafe ulong Device
        {
            get
            {
                // SAFETY: as for Mode.
                fixed (byte* p = &_first) return *(ulong*)p;
            }
        }

        public readonly unsafe ulong Inode
        {
            get
            {
                // SAFETY: as for Mode.
                fixed (byte* p = &_first) return *(ulong*)(p + 8);
            }
        }

        public readonly unsafe long Size
        {
            get
            {
                // SAFETY: as for Mode.
                fixed (byte* p = &_first) return *(long*)(p + SizeOffset);
            }
        }
    }

    [LibraryImport(LibraryName, SetLastError = true)]
    public static unsafe partial int fstat(int fd, StatBuffer* buffer);

    [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static unsafe partial int stat(string path, StatBuffer* buffer);

    [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static unsafe partial int lstat(string path, StatBuffer* buffer);
}
