using System.Buffers.Binary;

namespace VhostDeviceCan.Virtqueue;

/// <summary>A split-ring descriptor (docs/spec/virtqueue.md §1), copied out of guest memory once and then trusted.</summary>
public readonly record struct Descriptor(ulong Address, uint Length, ushort Flags, ushort Next)
{
    /// <summary>Size of one descriptor in the table and in an indirect table.</summary>
    public const int Size = 16;

    /// <summary>The chain continues at <see cref="Next"/> (docs/spec/virtqueue.md §2).</summary>
    public const ushort FlagNext = 1;
    /// <summary>The buffer is device-writable; otherwise device-readable.</summary>
    public const ushort FlagWrite = 2;
    /// <summary>The buffer is a table of descriptors (VIRTIO_F_INDIRECT_DESC).</summary>
    public const ushort FlagIndirect = 4;

    public bool HasNext => (Flags & FlagNext) != 0;
    public bool IsWritable => (Flags & FlagWrite) != 0;
    public bool IsIndirect => (Flags & FlagIndirect) != 0;

    /// <summary>Decodes the little-endian wire form.</summary>
    public static Descriptor Read(ReadOnlySpan<byte> source) => new(
        BinaryPrimitives.ReadUInt64LittleEndian(source),
        BinaryPrimitives.ReadUInt32LittleEndian(source[8..]),
        BinaryPrimitives.ReadUInt16LittleEndian(source[12..]),
        BinaryPrimitives.ReadUInt16LittleEndian(source[14..]));

    /// <summary>Encodes the little-endian wire form.</summary>
    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, Address);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], Length);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[12..], Flags);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[14..], Next);
    }
}
