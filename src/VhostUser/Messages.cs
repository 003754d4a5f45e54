using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace VhostDeviceCan.VhostUser;

// Wire payloads, host byte order (vhost-user.rst "Message types"). Each is a fixed-layout struct
// read with MemoryMarshal from a span whose length the dispatcher has already checked; IsValid()
// checks syntax only, state checks belong to the handler.

/// <summary>The 12-byte header in front of every message.</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct MessageHeader(uint Request, uint Flags, uint Size)
{
    public const int Length = 12;
    public const uint VersionMask = 0x3;
    public const uint Version = 0x1;
    public const uint ReplyFlag = 0x4;
    public const uint NeedReplyFlag = 0x8;
    /// <summary>Larger than any payload this back-end accepts (the largest is a full memory table).</summary>
    public const uint MaxPayload = 4096;

    public bool IsReply => (Flags & ReplyFlag) != 0;
    public bool NeedsReply => (Flags & NeedReplyFlag) != 0;

    /// <summary>Version 1 and no bits above NEED_REPLY.</summary>
    public bool IsValid => (Flags & VersionMask) == Version && (Flags & ~(VersionMask | ReplyFlag | NeedReplyFlag)) == 0;
}

/// <summary>A single 64-bit number (features, u64 replies, SET_VRING_KICK/CALL/ERR).</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct U64Payload(ulong Value)
{
    public const int Length = 8;
}

/// <summary>The u64 of SET_VRING_KICK / CALL / ERR: ring index in bits 0–7, bit 8 = no fd follows.</summary>
public readonly record struct VringFdPayload(ulong Value)
{
    public const ulong IndexMask = 0xFF;
    public const ulong NoFdFlag = 0x100;

    public uint Index => (uint)(Value & IndexMask);
    public bool HasFd => (Value & NoFdFlag) == 0;
    public bool IsValid => (Value & ~(IndexMask | NoFdFlag)) == 0;

    public static ulong Encode(uint index, bool hasFd) => (index & IndexMask) | (hasFd ? 0 : NoFdFlag);
}

/// <summary>struct vhost_vring_state: SET_VRING_NUM / BASE / ENABLE, GET_VRING_BASE.</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct VringState(uint Index, uint Num)
{
    public const int Length = 8;
}

/// <summary>struct vhost_vring_addr. Note the order: used before avail.</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct VringAddress(uint Index, uint Flags, ulong Descriptor, ulong Used, ulong Available, ulong Log)
{
    public const int Length = 40;
    public const uint LogFlag = 0x1;
    public bool IsValid => (Flags & ~LogFlag) == 0;
}

/// <summary>struct vhost_user_memory_region.</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct MemoryRegion(ulong GuestPhysAddr, ulong MemorySize, ulong UserspaceAddr, ulong MmapOffset)
{
    public const int Length = 32;

    /// <summary>Non-empty and neither address range wraps around 2^64.</summary>
    public bool IsValid =>
        MemorySize != 0
        && GuestPhysAddr <= ulong.MaxValue - (MemorySize - 1)
        && UserspaceAddr <= ulong.MaxValue - (MemorySize - 1)
        && MmapOffset <= ulong.MaxValue - MemorySize;
}

/// <summary>Header of SET_MEM_TABLE; <see cref="NRegions"/> regions follow, one fd each.</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct MemoryTableHeader(uint NRegions, uint Padding)
{
    public const int Length = 8;
    /// <summary>VHOST_MEMORY_BASELINE_NREGIONS: QEMU never sends more in one table.</summary>
    public const int MaxRegions = 8;
    public static int PayloadLength(int regions) => Length + regions * MemoryRegion.Length;
}

/// <summary>ADD_MEM_REG / REM_MEM_REG payload: 8 bytes of padding, then one region.</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct SingleMemoryRegion(ulong Padding, MemoryRegion Region)
{
    public const int Length = 40;
}

/// <summary>Header of GET_CONFIG / SET_CONFIG; <see cref="Size"/> bytes of config follow.</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct ConfigHeader(uint Offset, uint Size, uint Flags)
{
    public const int Length = 12;
    /// <summary>QEMU's VHOST_USER_MAX_CONFIG_SIZE.</summary>
    public const uint MaxConfigSize = 256;
    public const uint FlagMigration = 1;
}

public static class Payload
{
    public static T Read<T>(ReadOnlySpan<byte> payload) where T : unmanaged => MemoryMarshal.Read<T>(payload);

    public static int Write<T>(Span<byte> destination, in T value) where T : unmanaged
    {
        MemoryMarshal.Write(destination, in value);
        return Unsafe.SizeOf<T>();
    }
}
