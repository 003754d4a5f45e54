using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Can;

/// <summary>
/// One CAN or CAN FD frame, laid out exactly like Linux <c>struct canfd_frame</c> (72 bytes,
/// <c>CANFD_MTU</c>). Its first 16 bytes are also a valid <c>struct can_frame</c> (<c>CAN_MTU</c>),
/// so a SocketCAN transport reads or writes <see cref="WireBytes"/> directly: 16 bytes for a
/// classic frame, 72 for an FD frame (docs/spec/virtio-can.md §6).
/// </summary>
/// <remarks>
/// Whether a frame is FD is carried by <see cref="CANFD_FDF"/> in <see cref="Flags"/>, because a
/// 72-byte buffer alone cannot say so. A transport that reads a 72-byte frame sets FDF (kernels
/// before 6.x do not); one that reads a 16-byte frame clears byte 5, which is
/// <c>can_frame.__pad</c> and must not be taken for FD flags.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = Size)]
public partial struct CanFrame : IEquatable<CanFrame>
{
    /// <summary><c>CANFD_MTU</c>.</summary>
    public const int Size = 72;
    /// <summary><c>CAN_MTU</c>: the classic part shared with <c>struct can_frame</c>.</summary>
    public const int ClassicSize = Libc.CAN_MTU;

    // linux/can.h values, defined once in the interop layer.
    public const uint CAN_EFF_FLAG = Libc.CAN_EFF_FLAG;
    public const uint CAN_RTR_FLAG = Libc.CAN_RTR_FLAG;
    public const uint CAN_ERR_FLAG = Libc.CAN_ERR_FLAG;
    public const uint CAN_SFF_MASK = Libc.CAN_SFF_MASK;
    public const uint CAN_EFF_MASK = Libc.CAN_EFF_MASK;
    public const uint CAN_ERR_MASK = Libc.CAN_ERR_MASK;
    public const byte CANFD_BRS = Libc.CANFD_BRS;
    public const byte CANFD_ESI = Libc.CANFD_ESI;
    public const byte CANFD_FDF = Libc.CANFD_FDF;
    public const int CAN_MAX_DLEN = Libc.CAN_MAX_DLEN;
    public const int CANFD_MAX_DLEN = Libc.CANFD_MAX_DLEN;

    /// <summary><c>can_id</c> @0: identifier plus the EFF / RTR / ERR flag bits.</summary>
    public uint CanId;
    /// <summary><c>len</c> @4: payload length; for a remote frame the requested DLC.</summary>
    public byte Len;
    /// <summary><c>flags</c> @5 (FD only): BRS, ESI, FDF. Zero for classic frames (<c>__pad</c>).</summary>
    public byte Flags;
    /// <summary>@6 <c>__res0</c>: always zero.</summary>
    public byte Reserved0;
    /// <summary>@7 <c>len8_dlc</c> of a classic frame (DLC 9..15 when <see cref="Len"/> is 8); <c>__res1</c> for FD.</summary>
    public byte Len8Dlc;
    private CanFrameData _data;

    /// <summary>The identifier without flag bits (the 29-bit field; a standard ID uses the low 11).</summary>
    public readonly uint Id => CanId & CAN_EFF_MASK;
    public readonly bool IsExtended => (CanId & CAN_EFF_FLAG) != 0;
    public readonly bool IsRemote => (CanId & CAN_RTR_FLAG) != 0;
    public readonly bool IsError => (CanId & CAN_ERR_FLAG) != 0;
    public readonly bool IsFd => (Flags & CANFD_FDF) != 0;

    /// <summary><see cref="Len"/> capped at 64, so a corrupt length can never index past the buffer.</summary>
    public readonly int Length => Math.Min((int)Len, CANFD_MAX_DLEN);

    /// <summary>The payload: the first <see cref="Length"/> bytes (for a remote frame they carry nothing).</summary>
    [UnscopedRef]
    public readonly ReadOnlySpan<byte> Data => ((ReadOnlySpan<byte>)_data)[..Length];

    /// <summary>All 64 payload bytes, writable, for transports and builders.</summary>
    [UnscopedRef]
    public Span<byte> DataBuffer => _data;

    /// <summary>The bytes a SocketCAN socket exchanges: 16 (classic) or 72 (FD).</summary>
    [UnscopedRef]
    public readonly ReadOnlySpan<byte> WireBytes =>
        MemoryMarshal.AsBytes(new ReadOnlySpan<CanFrame>(in this))[..(IsFd ? Size : ClassicSize)];

    /// <summary>A classic data frame.</summary>
    public static CanFrame Classic(uint id, bool extended, ReadOnlySpan<byte> data)
    {
        if (data.Length > CAN_MAX_DLEN) throw new ArgumentOutOfRangeException(nameof(data), "classic CAN carries at most 8 bytes");
        var frame = new CanFrame { CanId = MakeCanId(id, extended), Len = (byte)data.Length };
        data.CopyTo(frame.DataBuffer);
        return frame;
    }

    /// <summary>
    /// A CAN FD frame. A length between the FD DLC steps is rounded up and padded with zeros, as
    /// the kernel does for a short FD write (docs/spec/virtio-can.md §6). <paramref name="fdFlags"/> may hold
    /// BRS and ESI; FDF is always set.
    /// </summary>
    public static CanFrame Fd(uint id, bool extended, ReadOnlySpan<byte> data, byte fdFlags = 0)
    {
        if (data.Length > CANFD_MAX_DLEN) throw new ArgumentOutOfRangeException(nameof(data), "CAN FD carries at most 64 bytes");
        var frame = new CanFrame
        {
            CanId = MakeCanId(id, extended),
            Len = (byte)RoundUpFdLength(data.Length),
            Flags = (byte)(CANFD_FDF | (fdFlags & (CANFD_BRS | CANFD_ESI))),
        };
        data.CopyTo(frame.DataBuffer);
        return frame;
    }

    /// <summary>A classic remote frame requesting <paramref name="dlc"/> bytes (no payload).</summary>
    public static CanFrame Remote(uint id, bool extended, int dlc)
    {
        if ((uint)dlc > CAN_MAX_DLEN) throw new ArgumentOutOfRangeException(nameof(dlc), "a remote frame's DLC is 0..8");
        return new CanFrame { CanId = MakeCanId(id, extended) | CAN_RTR_FLAG, Len = (byte)dlc };
    }

    /// <summary>The smallest valid CAN FD length (0–8, 12, 16, 20, 24, 32, 48, 64) that holds <paramref name="length"/>.</summary>
    public static int RoundUpFdLength(int length) => length switch
    {
        <= 8 => Math.Max(length, 0),
        <= 12 => 12,
        <= 16 => 16,
        <= 20 => 20,
        <= 24 => 24,
        <= 32 => 32,
        <= 48 => 48,
        _ => 64,
    };

    private static uint MakeCanId(uint id, bool extended)
    {
        uint max = extended ? CAN_EFF_MASK : CAN_SFF_MASK;
        if (id > max) throw new ArgumentOutOfRangeException(nameof(id), $"ID 0x{id:X} exceeds 0x{max:X}");
        return extended ? id | CAN_EFF_FLAG : id;
    }

    /// <summary>Byte-wise equality over the header and the whole payload buffer.</summary>
    public readonly bool Equals(CanFrame other) =>
        MemoryMarshal.AsBytes(new ReadOnlySpan<CanFrame>(in this))
            .SequenceEqual(MemoryMarshal.AsBytes(new ReadOnlySpan<CanFrame>(in other)));

    public override readonly bool Equals(object? obj) => obj is CanFrame other && Equals(other);

    public override readonly int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(MemoryMarshal.AsBytes(new ReadOnlySpan<CanFrame>(in this)));
        return hash.ToHashCode();
    }

    public static bool operator ==(CanFrame left, CanFrame right) => left.Equals(right);
    public static bool operator !=(CanFrame left, CanFrame right) => !left.Equals(right);
}
