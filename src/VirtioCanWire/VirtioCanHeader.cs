using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace VhostDeviceCan.VirtioCanWire;

/// <summary>
/// The 16-byte header shared by <c>virtio_can_tx_out</c> (Txq) and <c>virtio_can_rx</c> (Rxq),
/// little-endian on the wire (docs/spec/virtio-can.md §5). The payload (<c>sdu[]</c>) follows it.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public readonly struct VirtioCanHeader
{
    public const int Length = VirtioCan.HeaderLength;

    public readonly ushort MsgType;
    /// <summary>Payload bytes; a 12-bit field in the spec, 0..8 classic, 0..64 FD.</summary>
    public readonly ushort PayloadLength;
    /// <summary>Reserved for classic DLC 9..15: written as 0, ignored on input.</summary>
    public readonly byte ReservedClassicDlc;
    public readonly byte Padding;
    /// <summary>Reserved for CAN XL: written as 0, ignored on input.</summary>
    public readonly ushort ReservedXlPriority;
    public readonly uint Flags;
    /// <summary>11- or 29-bit identifier; bits 29..31 are always 0 (no SocketCAN flags here).</summary>
    public readonly uint CanId;

    public VirtioCanHeader(ushort msgType, ushort payloadLength, uint flags, uint canId)
        : this(msgType, payloadLength, 0, 0, 0, flags, canId)
    {
    }

    public VirtioCanHeader(ushort msgType, ushort payloadLength, byte reservedClassicDlc, byte padding,
        ushort reservedXlPriority, uint flags, uint canId)
    {
        MsgType = msgType;
        PayloadLength = payloadLength;
        ReservedClassicDlc = reservedClassicDlc;
        Padding = padding;
        ReservedXlPriority = reservedXlPriority;
        Flags = flags;
        CanId = canId;
    }

    public bool IsExtended => (Flags & VirtioCan.VIRTIO_CAN_FLAGS_EXTENDED) != 0;
    public bool IsFd => (Flags & VirtioCan.VIRTIO_CAN_FLAGS_FD) != 0;
    public bool IsRemote => (Flags & VirtioCan.VIRTIO_CAN_FLAGS_RTR) != 0;

    /// <summary>Reads the first 16 bytes of <paramref name="source"/> (which must hold at least 16).</summary>
    public static VirtioCanHeader Read(ReadOnlySpan<byte> source)
    {
        var header = MemoryMarshal.Read<VirtioCanHeader>(source);
        return BitConverter.IsLittleEndian ? header : header.ReverseEndianness();
    }

    /// <summary>Writes the 16 bytes to the start of <paramref name="destination"/>.</summary>
    public void Write(Span<byte> destination)
    {
        var wire = BitConverter.IsLittleEndian ? this : ReverseEndianness();
        MemoryMarshal.Write(destination, in wire);
    }

    private VirtioCanHeader ReverseEndianness() => new(
        BinaryPrimitives.ReverseEndianness(MsgType),
        BinaryPrimitives.ReverseEndianness(PayloadLength),
        ReservedClassicDlc,
        Padding,
        BinaryPrimitives.ReverseEndianness(ReservedXlPriority),
        BinaryPrimitives.ReverseEndianness(Flags),
        BinaryPrimitives.ReverseEndianness(CanId));

    public override string ToString() =>
        $"msg_type=0x{MsgType:X4} length={PayloadLength} flags=0x{Flags:X} can_id=0x{CanId:X}";
}
