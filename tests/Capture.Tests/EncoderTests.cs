using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using VhostDeviceCan.Can;
using VhostDeviceCan.Capture;

namespace VhostDeviceCan.Capture.Tests;

public sealed class EncoderTests
{
    private static readonly CapturePoint[] TwoGuests =
    [
        new("guest0", "/tmp/can.sock0 on vbus:default", "vbus:default", 0, new ManualTap()),
        new("guest1", "/tmp/can.sock1 on vbus:default", "vbus:default", 1, new ManualTap()),
    ];

    private static readonly byte[] Sixty4 = [.. Enumerable.Range(0, 64).Select(i => (byte)(0xA0 + i))];

    public static TheoryData<string, CanFrame, string> Frames => new()
    {
        { "classic standard", CanFrame.Classic(0x123, false, [0xDE, 0xAD, 0xBE, 0xEF]),
            "00 00 01 23 04 00 00 00 DE AD BE EF 00 00 00 00" },
        { "classic extended", CanFrame.Classic(0x12345678, true, [0x11, 0x22]),
            "92 34 56 78 02 00 00 00 11 22 00 00 00 00 00 00" },
        { "remote, DLC 4", CanFrame.Remote(0x7FF, false, 4),
            "40 00 07 FF 04 00 00 00 00 00 00 00 00 00 00 00" },
        { "remote extended, DLC 0", CanFrame.Remote(0x1FFFFFFF, true, 0),
            "DF FF FF FF 00 00 00 00 00 00 00 00 00 00 00 00" },
        { "DLC 0", CanFrame.Classic(0x000, false, []),
            "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00" },
        { "classic 8 bytes, DLC 15", WithLen8Dlc(CanFrame.Classic(0x001, false, [1, 2, 3, 4, 5, 6, 7, 8]), 15),
            "00 00 00 01 08 00 00 0F 01 02 03 04 05 06 07 08" },
        { "FD, BRS, 12 bytes", CanFrame.Fd(0x01ABCDEF, true, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], CanFrame.CANFD_BRS),
            "81 AB CD EF 0C 05 00 00 01 02 03 04 05 06 07 08 09 0A 0B 0C" + Zeros(52) },
        { "FD, ESI, 64 bytes", CanFrame.Fd(0x010, false, Sixty4, CanFrame.CANFD_ESI),
            "00 00 00 10 40 06 00 00 " + Hex.Format(Sixty4) },
        { "FD, BRS and ESI, no data", CanFrame.Fd(0x7FF, false, [], CanFrame.CANFD_BRS | CanFrame.CANFD_ESI),
            "00 00 07 FF 00 07 00 00" + Zeros(64) },
    };

    private static CanFrame WithLen8Dlc(CanFrame frame, byte dlc)
    {
        frame.Len8Dlc = dlc;
        return frame;
    }

    private static string Zeros(int count) => string.Concat(Enumerable.Repeat(" 00", count));

    [Theory]
    [MemberData(nameof(Frames))]
    public void An_enhanced_packet_block_carries_the_SocketCAN_frame_in_network_byte_order(string kind, CanFrame frame, string packet)
    {
        _ = kind;
        var encoder = new PcapngEncoder(TwoGuests);
        var record = new CaptureRecord { Frame = frame, Direction = CaptureDirection.Transmitted };
        var block = new byte[encoder.MaxRecordLength];
        const long Nanoseconds = 0x0000_0001_0000_0002;
        int length = encoder.Encode(block, in record, 1, Nanoseconds);

        byte[] expectedPacket = Hex.Parse(packet);
        Assert.Equal(44 + expectedPacket.Length, length);
        Assert.Equal(
            "06 00 00 00 " + Hex.Format(LittleEndian(length)) + " 01 00 00 00 01 00 00 00 02 00 00 00 "
            + Hex.Format(LittleEndian(expectedPacket.Length)) + " " + Hex.Format(LittleEndian(expectedPacket.Length)) + " "
            + Hex.Format(expectedPacket)
            // epb_flags: outbound (2); opt_endofopt; the length again.
            + " 02 00 04 00 02 00 00 00 00 00 00 00 " + Hex.Format(LittleEndian(length)),
            Hex.Format(block.AsSpan(0, length)));
    }

    [Fact]
    public void A_received_frame_is_inbound()
    {
        var encoder = new PcapngEncoder(TwoGuests);
        var record = new CaptureRecord { Frame = CanFrame.Classic(1, false, [1]), Direction = CaptureDirection.Received };
        var block = new byte[encoder.MaxRecordLength];
        int length = encoder.Encode(block, in record, 0, 0);
        Assert.Equal("02 00 04 00 01 00 00 00", Hex.Format(block.AsSpan(length - 16, 8)));
    }

    [Fact]
    public void The_header_is_a_section_then_one_SocketCAN_interface_per_guest_with_nanosecond_stamps()
    {
        var output = new ArrayBufferWriter<byte>();
        new PcapngEncoder(TwoGuests).WriteHeader(output);
        List<(uint Type, byte[] Body)> blocks = Blocks(output.WrittenSpan);

        Assert.Equal([0x0A0D0D0Au, 1u, 1u], blocks.Select(b => b.Type));
        Assert.Equal("4D 3C 2B 1A 01 00 00 00 FF FF FF FF FF FF FF FF", Hex.Format(blocks[0].Body.AsSpan(0, 16)));
        for (int i = 0; i < 2; i++)
        {
            byte[] body = blocks[i + 1].Body;
            Assert.Equal(227, BinaryPrimitives.ReadUInt16LittleEndian(body));
            Assert.Equal(72u, BinaryPrimitives.ReadUInt32LittleEndian(body.AsSpan(4)));
            Dictionary<ushort, byte[]> options = Options(body.AsSpan(8));
            Assert.Equal($"guest{i}", Encoding.UTF8.GetString(options[2]));
            Assert.Equal($"/tmp/can.sock{i} on vbus:default", Encoding.UTF8.GetString(options[3]));
            Assert.Equal([9], options[9]);
        }
    }

    [Fact]
    public void The_trailer_counts_each_guests_frames_and_losses()
    {
        var encoder = new PcapngEncoder(TwoGuests);
        var output = new ArrayBufferWriter<byte>();
        encoder.WriteTrailer(output, [5, 7], [0, 3], 1_000, 2_000);
        Assert.Equal(encoder.TrailerLength, output.WrittenCount);
        List<(uint Type, byte[] Body)> blocks = Blocks(output.WrittenSpan);
        Assert.Equal([5u, 5u], blocks.Select(b => b.Type));
        Dictionary<ushort, byte[]> second = Options(blocks[1].Body.AsSpan(12));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(blocks[1].Body));
        Assert.Equal(10UL, BinaryPrimitives.ReadUInt64LittleEndian(second[4]));
        Assert.Equal(3UL, BinaryPrimitives.ReadUInt64LittleEndian(second[7]));
    }

    public static TheoryData<CanFrame, CaptureDirection, int, string> LogLines => new()
    {
        { CanFrame.Classic(0x123, false, [0xDE, 0xAD, 0xBE, 0xEF]), CaptureDirection.Transmitted, 0, "(1733580000.123456) guest0tx 123#DEADBEEF\n" },
        { CanFrame.Classic(0x12345678, true, [0x11, 0x22]), CaptureDirection.Received, 1, "(1733580000.123456) guest1rx 12345678#1122\n" },
        { CanFrame.Remote(0x7FF, false, 4), CaptureDirection.Received, 0, "(1733580000.123456) guest0rx 7FF#R4\n" },
        { CanFrame.Remote(0x100, false, 0), CaptureDirection.Transmitted, 0, "(1733580000.123456) guest0tx 100#R\n" },
        { CanFrame.Classic(0x000, false, []), CaptureDirection.Transmitted, 1, "(1733580000.123456) guest1tx 000#\n" },
        { CanFrame.Fd(0x01ABCDEF, true, [1, 2, 3], CanFrame.CANFD_BRS), CaptureDirection.Transmitted, 0, "(1733580000.123456) guest0tx 01ABCDEF##1010203\n" },
        { CanFrame.Fd(0x010, false, [0xFF], CanFrame.CANFD_ESI), CaptureDirection.Received, 0, "(1733580000.123456) guest0rx 010##2FF\n" },
    };

    [Theory]
    [MemberData(nameof(LogLines))]
    public void A_log_line_names_the_guest_and_direction(CanFrame frame, CaptureDirection direction, int guest, string line)
    {
        var encoder = new CandumpLogEncoder(TwoGuests);
        var record = new CaptureRecord { Frame = frame, Direction = direction };
        var bytes = new byte[encoder.MaxRecordLength];
        int length = encoder.Encode(bytes, in record, guest, 1_733_580_000_123_456_789);
        Assert.Equal(line, Encoding.ASCII.GetString(bytes, 0, length));
    }

    [Fact]
    public void A_long_guest_name_keeps_its_direction_within_an_interface_names_length()
    {
        CapturePoint[] points = [new("a-very-long-guest-name", "", "vcan0", 0, new ManualTap())];
        var encoder = new CandumpLogEncoder(points);
        var record = new CaptureRecord { Frame = CanFrame.Classic(1, false, [1]), Direction = CaptureDirection.Received };
        var bytes = new byte[encoder.MaxRecordLength];
        int length = encoder.Encode(bytes, in record, 0, 0);
        Assert.Equal("(0000000000.000000) a-very-long-grx 001#01\n", Encoding.ASCII.GetString(bytes, 0, length));
    }

    private static byte[] LittleEndian(int value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, value);
        return bytes;
    }

    /// <summary>Splits pcapng bytes into blocks, checking that each states its length at both ends.</summary>
    internal static List<(uint Type, byte[] Body)> Blocks(ReadOnlySpan<byte> bytes)
    {
        var blocks = new List<(uint, byte[])>();
        while (bytes.Length > 0)
        {
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(bytes);
            int length = BinaryPrimitives.ReadInt32LittleEndian(bytes[4..]);
            Assert.True(length % 4 == 0 && length >= 12 && length <= bytes.Length, $"block length {length}");
            Assert.Equal(length, BinaryPrimitives.ReadInt32LittleEndian(bytes[(length - 4)..]));
            blocks.Add((type, bytes[8..(length - 4)].ToArray()));
            bytes = bytes[length..];
        }
        return blocks;
    }

    private static Dictionary<ushort, byte[]> Options(ReadOnlySpan<byte> bytes)
    {
        var options = new Dictionary<ushort, byte[]>();
        while (true)
        {
            ushort code = BinaryPrimitives.ReadUInt16LittleEndian(bytes);
            int length = BinaryPrimitives.ReadUInt16LittleEndian(bytes[2..]);
            if (code == 0) return options;
            options[code] = bytes.Slice(4, length).ToArray();
            bytes = bytes[(4 + (length + 3) / 4 * 4)..];
        }
    }
}
