using System.Runtime.CompilerServices;

namespace VhostDeviceCan.VhostUser.Tests;

/// <summary>
/// Each payload struct against the exact wire bytes of vhost-user.rst "Message types"
/// (little-endian x86-64 host): decode the literal row, check the fields, encode back to the row.
/// </summary>
public class CodecTests
{
    private static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", ""));

    private static void RoundTrip<T>(string hex, T expected) where T : unmanaged
    {
        byte[] wire = Hex(hex);
        Assert.Equal(wire.Length, Unsafe.SizeOf<T>());
        Assert.Equal(expected, Payload.Read<T>(wire));
        var encoded = new byte[wire.Length];
        Assert.Equal(wire.Length, Payload.Write(encoded, expected));
        Assert.Equal(wire, encoded);
    }

    [Theory]
    [InlineData("01000000 01000000 00000000", 1u, 1u, 0u)]
    [InlineData("05000000 09000000 48000000", 5u, 9u, 72u)]
    [InlineData("18000000 05000000 0C010000", 24u, 5u, 268u)]
    [InlineData("FFFFFFFF 0C000000 00100000", uint.MaxValue, 12u, 4096u)]
    public void MessageHeader_wire_bytes(string hex, uint request, uint flags, uint size) =>
        RoundTrip(hex, new MessageHeader(request, flags, size));

    [Theory]
    [InlineData(0x1u, true)]   // request
    [InlineData(0x5u, true)]   // reply
    [InlineData(0x9u, true)]   // request + NEED_REPLY
    [InlineData(0xDu, true)]   // all three known bits (IsValid checks syntax only)
    [InlineData(0x0u, false)]  // version 0
    [InlineData(0x2u, false)]  // version 2
    [InlineData(0x3u, false)]  // version 3
    [InlineData(0x4u, false)]  // REPLY without a version
    [InlineData(0x11u, false)] // bit 4
    [InlineData(0x80000001u, false)] // bit 31
    public void MessageHeader_validity(uint flags, bool valid)
    {
        var header = new MessageHeader(1, flags, 0);
        Assert.Equal(valid, header.IsValid);
    }

    [Theory]
    [InlineData(0x5u, true, false)]
    [InlineData(0x9u, false, true)]
    [InlineData(0x1u, false, false)]
    public void MessageHeader_reply_bits(uint flags, bool isReply, bool needsReply)
    {
        var header = new MessageHeader(3, flags, 0);
        Assert.Equal(isReply, header.IsReply);
        Assert.Equal(needsReply, header.NeedsReply);
    }

    [Theory]
    [InlineData("0000000000000000", 0UL)]
    [InlineData("0000004001000000", 0x1_4000_0000UL)] // VERSION_1 | PROTOCOL_FEATURES
    [InlineData("0F00000000000000", 0xFUL)]
    [InlineData("FFFFFFFFFFFFFFFF", ulong.MaxValue)]
    public void U64_wire_bytes(string hex, ulong value) => RoundTrip(hex, new U64Payload(value));

    [Theory]
    [InlineData("00000000 00010000", 0u, 256u)]
    [InlineData("02000000 01000000", 2u, 1u)]
    [InlineData("01000000 FFFF0000", 1u, 0xFFFFu)]
    [InlineData("FF000000 00800080", 255u, 0x8000_8000u)] // packed ring: wrap bits in 15 and 31
    public void VringState_wire_bytes(string hex, uint index, uint num) => RoundTrip(hex, new VringState(index, num));

    [Theory]
    // index, flags, desc, USED, AVAIL, log: used comes before avail on the wire.
    [InlineData("01000000 00000000 0010000000000000 0030000000000000 0020000000000000 0000000000000000",
        1u, 0u, 0x1000UL, 0x3000UL, 0x2000UL, 0UL)]
    [InlineData("02000000 01000000 00F0FFFF7F000000 40F1FFFF7F000000 00F1FFFF7F000000 00A0000000000000",
        2u, 1u, 0x7F_FFFF_F000UL, 0x7F_FFFF_F140UL, 0x7F_FFFF_F100UL, 0xA000UL)]
    public void VringAddress_wire_bytes(string hex, uint index, uint flags, ulong desc, ulong used, ulong avail, ulong log)
    {
        RoundTrip(hex, new VringAddress(index, flags, desc, used, avail, log));
        var decoded = Payload.Read<VringAddress>(Hex(hex));
        Assert.Equal(used, BitConverter.ToUInt64(Hex(hex), 16));
        Assert.Equal(avail, BitConverter.ToUInt64(Hex(hex), 24));
        Assert.Equal(used, decoded.Used);
    }

    [Theory]
    [InlineData(0u, true)]
    [InlineData(1u, true)]
    [InlineData(2u, false)]
    [InlineData(0x80000000u, false)]
    public void VringAddress_flags_validity(uint flags, bool valid) =>
        Assert.Equal(valid, new VringAddress(0, flags, 0, 0, 0, 0).IsValid);

    [Theory]
    [InlineData("0000000000000000 00000080 00000000 00007F5500000000 0000000000000000",
        0UL, 0x8000_0000UL, 0x557F_0000UL, 0UL)]
    [InlineData("0000000001000000 00000040 00000000 0000C0D500000000 00000080 00000000",
        0x1_0000_0000UL, 0x4000_0000UL, 0xD5C0_0000UL, 0x8000_0000UL)]
    public void MemoryRegion_wire_bytes(string hex, ulong gpa, ulong size, ulong uva, ulong offset) =>
        RoundTrip(hex, new MemoryRegion(gpa, size, uva, offset));

    [Theory]
    [InlineData("01000000 00000000", 1u, 0u)]
    [InlineData("08000000 00000000", 8u, 0u)]
    [InlineData("02000000 EFBEADDE", 2u, 0xDEADBEEFu)]
    public void MemoryTableHeader_wire_bytes(string hex, uint regions, uint padding) =>
        RoundTrip(hex, new MemoryTableHeader(regions, padding));

    [Theory]
    [InlineData(0, 8)]
    [InlineData(1, 40)]
    [InlineData(8, 264)]
    public void MemoryTable_payload_length(int regions, int length) =>
        Assert.Equal(length, MemoryTableHeader.PayloadLength(regions));

    [Theory]
    [InlineData("0000000000000000 0000100000000000 0000100000000000 00007F5500000000 0000000000000000",
        0UL, 0x10_0000UL, 0x10_0000UL, 0x557F_0000UL, 0UL)]
    [InlineData("0100000000000000 0000000001000000 0000000010000000 0000000000000000 0010000000000000",
        1UL, 0x1_0000_0000UL, 0x10_0000_0000UL, 0UL, 0x1000UL)]
    public void SingleMemoryRegion_wire_bytes(string hex, ulong padding, ulong gpa, ulong size, ulong uva, ulong offset) =>
        RoundTrip(hex, new SingleMemoryRegion(padding, new MemoryRegion(gpa, size, uva, offset)));

    [Theory]
    [InlineData("00000000 08000000 00000000", 0u, 8u, 0u)]
    [InlineData("04000000 04000000 01000000", 4u, 4u, 1u)]
    [InlineData("00000000 00010000 00000000", 0u, 256u, 0u)]
    public void ConfigHeader_wire_bytes(string hex, uint offset, uint size, uint flags) =>
        RoundTrip(hex, new ConfigHeader(offset, size, flags));

    [Theory]
    [InlineData(0u, true, 0x000UL)]
    [InlineData(2u, true, 0x002UL)]
    [InlineData(0u, false, 0x100UL)]
    [InlineData(2u, false, 0x102UL)]
    [InlineData(255u, true, 0x0FFUL)]
    [InlineData(255u, false, 0x1FFUL)]
    public void VringFdPayload_encoding(uint index, bool hasFd, ulong wire)
    {
        Assert.Equal(wire, VringFdPayload.Encode(index, hasFd));
        var decoded = new VringFdPayload(wire);
        Assert.Equal(index, decoded.Index);
        Assert.Equal(hasFd, decoded.HasFd);
        Assert.True(decoded.IsValid);
    }

    [Theory]
    [InlineData(0x200UL)]          // bit 9
    [InlineData(0x1_0000_0000UL)]  // bit 32
    [InlineData(0x8000_0000_0000_0000UL)]
    public void VringFdPayload_unknown_bits_are_invalid(ulong wire) => Assert.False(new VringFdPayload(wire).IsValid);

    [Theory]
    [InlineData(0UL, 0x1000UL, 0UL, 0UL, true)]
    [InlineData(0UL, 0UL, 0UL, 0UL, false)]                                     // empty
    [InlineData(0xFFFF_FFFF_FFFF_F000UL, 0x1000UL, 0UL, 0UL, true)]             // GPA ends exactly at 2^64
    [InlineData(0xFFFF_FFFF_FFFF_F001UL, 0x1000UL, 0UL, 0UL, false)]            // GPA wraps
    [InlineData(0UL, 0x1000UL, 0xFFFF_FFFF_FFFF_F000UL, 0UL, true)]             // UVA ends exactly at 2^64
    [InlineData(0UL, 0x1000UL, 0xFFFF_FFFF_FFFF_F001UL, 0UL, false)]            // UVA wraps
    [InlineData(0UL, 0x1000UL, 0UL, 0xFFFF_FFFF_FFFF_EFFFUL, true)]             // offset + size = 2^64 - 1
    [InlineData(0UL, 0x1000UL, 0UL, 0xFFFF_FFFF_FFFF_F000UL, false)]            // offset + size = 2^64
    [InlineData(0UL, ulong.MaxValue, 0UL, 0UL, true)]                           // whole space minus one byte
    [InlineData(1UL, ulong.MaxValue, 0UL, 0UL, true)]                           // [1, 2^64): ends exactly at the top
    [InlineData(2UL, ulong.MaxValue, 0UL, 0UL, false)]                          // one byte past
    public void MemoryRegion_validity(ulong gpa, ulong size, ulong uva, ulong offset, bool valid) =>
        Assert.Equal(valid, new MemoryRegion(gpa, size, uva, offset).IsValid);

    [Fact]
    public void Struct_sizes_match_their_wire_lengths()
    {
        Assert.Equal(MessageHeader.Length, Unsafe.SizeOf<MessageHeader>());
        Assert.Equal(U64Payload.Length, Unsafe.SizeOf<U64Payload>());
        Assert.Equal(8, Unsafe.SizeOf<VringFdPayload>());
        Assert.Equal(VringState.Length, Unsafe.SizeOf<VringState>());
        Assert.Equal(VringAddress.Length, Unsafe.SizeOf<VringAddress>());
        Assert.Equal(MemoryRegion.Length, Unsafe.SizeOf<MemoryRegion>());
        Assert.Equal(MemoryTableHeader.Length, Unsafe.SizeOf<MemoryTableHeader>());
        Assert.Equal(SingleMemoryRegion.Length, Unsafe.SizeOf<SingleMemoryRegion>());
        Assert.Equal(ConfigHeader.Length, Unsafe.SizeOf<ConfigHeader>());
    }
}
