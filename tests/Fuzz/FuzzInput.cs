using System.Buffers.Binary;

namespace VhostDeviceCan.Fuzz;

/// <summary>Reads fields from the front of a fuzz input; past its end every field reads as zero,
/// so any byte string is a valid input.</summary>
internal ref struct FuzzInput(ReadOnlySpan<byte> bytes)
{
    private ReadOnlySpan<byte> _rest = bytes;

    public readonly ReadOnlySpan<byte> Rest => _rest;

    public byte U8() => (byte)Field(1);
    public ushort U16() => (ushort)Field(2);
    public uint U32() => (uint)Field(4);
    public ulong U64() => Field(8);

    /// <summary>Up to <paramref name="count"/> bytes, fewer at the end of the input.</summary>
    public ReadOnlySpan<byte> Bytes(int count)
    {
        var taken = _rest[..Math.Min(count, _rest.Length)];
        _rest = _rest[taken.Length..];
        return taken;
    }

    private ulong Field(int count)
    {
        Span<byte> field = stackalloc byte[8];
        field.Clear();
        Bytes(count).CopyTo(field);
        return BinaryPrimitives.ReadUInt64LittleEndian(field);
    }
}
