using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace VhostDeviceCan.Can.Tests;

public class CanFrameTests
{
    [Fact]
    public void Layout_matches_struct_canfd_frame()
    {
        Assert.Equal(72, Unsafe.SizeOf<CanFrame>());
        Assert.Equal(72, Marshal.SizeOf<CanFrame>());
        var frame = new CanFrame { CanId = 0x11223344, Len = 0x55, Flags = 0x66, Reserved0 = 0x77, Len8Dlc = 0x88 };
        frame.DataBuffer[0] = 0x99;
        frame.DataBuffer[63] = 0xAA;
        ReadOnlySpan<byte> bytes = MemoryMarshal.AsBytes(new ReadOnlySpan<CanFrame>(in frame));
        Assert.Equal("44 33 22 11 55 66 77 88 99", Hex.Format(bytes[..9]));
        Assert.Equal(0xAA, bytes[71]);
    }

    [Fact]
    public unsafe void Field_offsets_match_linux()
    {
        CanFrame frame = default;
        byte* start = (byte*)&frame;
        Assert.Equal(0, (int)((byte*)&frame.CanId - start));
        Assert.Equal(4, (int)(&frame.Len - start));
        Assert.Equal(5, (int)(&frame.Flags - start));
        Assert.Equal(6, (int)(&frame.Reserved0 - start));
        Assert.Equal(7, (int)(&frame.Len8Dlc - start));
        fixed (byte* data = frame.DataBuffer) Assert.Equal(8, (int)(data - start));
    }

    [Fact]
    public void Wire_bytes_are_can_mtu_for_classic_and_canfd_mtu_for_fd()
    {
        var classic = CanFrame.Classic(0x123, false, [1, 2]);
        var fd = CanFrame.Fd(0x123, false, [1, 2]);
        Assert.Equal(16, classic.WireBytes.Length);
        Assert.Equal("23 01 00 00 02 00 00 00 01 02 00 00 00 00 00 00", Hex.Format(classic.WireBytes));
        Assert.Equal(72, fd.WireBytes.Length);
        Assert.Equal(CanFrame.CANFD_FDF, fd.WireBytes[5]);
    }

    [Fact]
    public void Helpers_expose_id_flags_and_payload()
    {
        var frame = CanFrame.Classic(0x1ABCDEF0, true, [0xDE, 0xAD]);
        Assert.Equal(0x1ABCDEF0u, frame.Id);
        Assert.Equal(0x9ABCDEF0u, frame.CanId);
        Assert.True(frame.IsExtended);
        Assert.False(frame.IsRemote || frame.IsError || frame.IsFd);
        Assert.Equal(2, frame.Length);
        Assert.Equal(new byte[] { 0xDE, 0xAD }, frame.Data.ToArray());

        var remote = CanFrame.Remote(0x7FF, false, 5);
        Assert.True(remote.IsRemote);
        Assert.Equal(5, remote.Length);
        Assert.Equal(0x400007FFu, remote.CanId);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(8, 8)]
    [InlineData(9, 12)]
    [InlineData(12, 12)]
    [InlineData(13, 16)]
    [InlineData(17, 20)]
    [InlineData(21, 24)]
    [InlineData(25, 32)]
    [InlineData(33, 48)]
    [InlineData(49, 64)]
    [InlineData(64, 64)]
    public void Fd_rounds_length_up_to_a_dlc_step_with_zero_padding(int given, int expected)
    {
        byte[] data = Enumerable.Repeat((byte)0xFF, given).ToArray();
        var frame = CanFrame.Fd(0x10, false, data);
        Assert.Equal(expected, frame.Length);
        Assert.All(frame.Data[given..].ToArray(), b => Assert.Equal(0, b));
        Assert.True(frame.IsFd);
    }

    [Fact]
    public void Factories_reject_out_of_range_input()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => CanFrame.Classic(0x800, false, []));
        Assert.Throws<ArgumentOutOfRangeException>(() => CanFrame.Classic(0x20000000, true, []));
        Assert.Throws<ArgumentOutOfRangeException>(() => CanFrame.Classic(1, false, new byte[9]));
        Assert.Throws<ArgumentOutOfRangeException>(() => CanFrame.Fd(1, false, new byte[65]));
        Assert.Throws<ArgumentOutOfRangeException>(() => CanFrame.Remote(1, false, 9));
    }

    public static TheoryData<string, string> Candump => new()
    {
        { "123#DEADBEEF", "classic" },
        { "123#", "classic-empty" },
        { "12345678#00", "extended" },
        { "00000001#", "extended-small" },
        { "123#R", "remote" },
        { "123#R4", "remote-dlc" },
        { "123##0AABB", "fd" },
        { "123##1", "fd-brs" },
        { "00000123##3112233445566778899AABBCCDD000000", "fd-extended-brs-esi-padded" },
        { "7FF#1122334455667788_E", "len8-dlc" },
        { "20000040#0000000000000000", "error-busoff" },
    };

    [Theory]
    [MemberData(nameof(Candump))]
    public void ToString_uses_candump_notation(string expected, string shape)
    {
        CanFrame frame = shape switch
        {
            "classic" => CanFrame.Classic(0x123, false, [0xDE, 0xAD, 0xBE, 0xEF]),
            "classic-empty" => CanFrame.Classic(0x123, false, []),
            "extended" => CanFrame.Classic(0x12345678, true, [0]),
            "extended-small" => CanFrame.Classic(1, true, []),
            "remote" => CanFrame.Remote(0x123, false, 0),
            "remote-dlc" => CanFrame.Remote(0x123, false, 4),
            "fd" => CanFrame.Fd(0x123, false, [0xAA, 0xBB]),
            "fd-brs" => CanFrame.Fd(0x123, false, [], CanFrame.CANFD_BRS),
            "fd-extended-brs-esi-padded" => CanFrame.Fd(0x123, true,
                Hex.Parse("11 22 33 44 55 66 77 88 99 AA BB CC DD"), CanFrame.CANFD_BRS | CanFrame.CANFD_ESI),
            "len8-dlc" => CanFrame.Classic(0x7FF, false, Hex.Parse("1122334455667788")) with { Len8Dlc = 0xE },
            "error-busoff" => new CanFrame { CanId = CanFrame.CAN_ERR_FLAG | 0x40, Len = 8 },
            _ => throw new ArgumentOutOfRangeException(nameof(shape)),
        };
        Assert.Equal(expected, frame.ToString());
    }

    [Fact]
    public void Equality_compares_all_bytes()
    {
        var a = CanFrame.Classic(0x10, false, [1]);
        var b = CanFrame.Classic(0x10, false, [1]);
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        b.DataBuffer[0] = 2;
        Assert.NotEqual(a, b);
    }
}
