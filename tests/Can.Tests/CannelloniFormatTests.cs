using VhostDeviceCan.Can.Cannelloni;

namespace VhostDeviceCan.Can.Tests;

/// <summary>The cannelloni datagram format against byte rows written from its document
/// (docs/spec/cannelloni.md): everything big-endian, FD marked in the length byte.</summary>
public class CannelloniFormatTests
{
    private static byte[] Encode(byte sequence, params CanFrame[] frames)
    {
        var datagram = new byte[CannelloniFormat.DefaultPayloadSize];
        int at = CannelloniFormat.HeaderSize;
        foreach (var frame in frames)
        {
            Assert.Equal(CannelloniFormat.EncodedSize(frame), CannelloniFormat.WriteFrame(frame, datagram.AsSpan(at)));
            at += CannelloniFormat.EncodedSize(frame);
        }
        CannelloniFormat.WriteHeader(datagram, sequence, (ushort)frames.Length);
        return datagram[..at];
    }

    /// <summary>Decodes as a bridge does: the frames up to the first error, and the error.</summary>
    private static (List<CanFrame> Frames, CannelloniError Error, byte Sequence) Decode(byte[] datagram)
    {
        var frames = new List<CanFrame>();
        var error = CannelloniFormat.ReadHeader(datagram, out byte sequence, out int count);
        int offset = CannelloniFormat.HeaderSize;
        for (int i = 0; i < count && error == CannelloniError.None; i++)
        {
            error = CannelloniFormat.ReadFrame(datagram, ref offset, out CanFrame frame);
            if (error == CannelloniError.None) frames.Add(frame);
        }
        return (frames, error, sequence);
    }

    public static TheoryData<string, CanFrame> Rows => new()
    {
        // Standard ID 0x123, 3 bytes.
        { "02 00 07 00 01  00 00 01 23  03  11 22 33", CanFrame.Classic(0x123, false, [0x11, 0x22, 0x33]) },
        // Extended ID: EFF is bit 31 of can_id, sent big-endian.
        { "02 00 07 00 01  92 34 56 78  02  AA BB", CanFrame.Classic(0x12345678, true, [0xAA, 0xBB]) },
        // DLC 0.
        { "02 00 07 00 01  00 00 07 FF  00", CanFrame.Classic(0x7FF, false, []) },
        // Remote frame: RTR is bit 30; the length is the requested DLC and no data follows.
        { "02 00 07 00 01  40 00 01 00  04", CanFrame.Remote(0x100, false, 4) },
        // FD, 12 bytes, BRS and ESI: length | 0x80, then the flags byte.
        { "02 00 07 00 01  00 00 02 00  8C  03  01 02 03 04 05 06 07 08 09 0A 0B 0C",
            CanFrame.Fd(0x200, false, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], CanFrame.CANFD_BRS | CanFrame.CANFD_ESI) },
        // FD extended, 0 bytes, no flags.
        { "02 00 07 00 01  80 00 00 01  80  00", CanFrame.Fd(1, true, []) },
    };

    [Theory]
    [MemberData(nameof(Rows))]
    public void One_frame_encodes_to_the_documented_bytes_and_back(string hex, CanFrame frame)
    {
        Assert.Equal(hex.Replace("  ", " ", StringComparison.Ordinal), Hex.Format(Encode(7, frame)));
        var (frames, error, sequence) = Decode(Hex.Parse(hex));
        Assert.Equal(CannelloniError.None, error);
        Assert.Equal(7, sequence);
        Assert.Equal(frame, Assert.Single(frames));
    }

    [Fact]
    public void Several_frames_share_one_datagram_in_order()
    {
        byte[] datagram = Hex.Parse("02 00 FF 00 03  00 00 00 01 01 AA  80 00 00 02 81 01 BB  40 00 00 03 08");
        var (frames, error, sequence) = Decode(datagram);
        Assert.Equal(CannelloniError.None, error);
        Assert.Equal(255, sequence);
        Assert.Equal([CanFrame.Classic(1, false, [0xAA]), CanFrame.Fd(2, true, [0xBB], CanFrame.CANFD_BRS), CanFrame.Remote(3, false, 8)], frames);
        Assert.Equal(datagram, Encode(255, [.. frames]));
    }

    [Fact]
    public void The_FD_flags_byte_drops_bits_other_than_BRS_and_ESI_and_FDF_is_implied()
    {
        var (frames, error, _) = Decode(Hex.Parse("02 00 00 00 01  00 00 00 05  80  FF"));
        Assert.Equal(CannelloniError.None, error);
        Assert.Equal(CanFrame.CANFD_FDF | CanFrame.CANFD_BRS | CanFrame.CANFD_ESI, Assert.Single(frames).Flags);
        // FDF itself is never sent: cannelloni's peers write the byte to a CAN FD socket as it comes.
        Assert.Equal("02 00 00 00 01 00 00 00 05 80 00", Hex.Format(Encode(0, CanFrame.Fd(5, false, []))));
    }

    [Theory]
    [InlineData("", CannelloniError.ShortHeader, 0)]
    [InlineData("02 00 00 00", CannelloniError.ShortHeader, 0)]
    [InlineData("01 00 00 00 01  00 00 00 01 00", CannelloniError.WrongVersion, 0)]
    [InlineData("02 01 00 00 01  00 00 00 01 00", CannelloniError.WrongOpCode, 0)]
    // Count 2, one frame present: the first is kept, the missing one is truncation.
    [InlineData("02 00 00 00 02  00 00 00 01 01 AA", CannelloniError.Truncated, 1)]
    // A frame header cut short, and a payload cut short.
    [InlineData("02 00 00 00 01  00 00 00", CannelloniError.Truncated, 0)]
    [InlineData("02 00 00 00 01  00 00 00 01 04 AA BB", CannelloniError.Truncated, 0)]
    // FD marker with the flags byte missing.
    [InlineData("02 00 00 00 01  00 00 00 01 80", CannelloniError.Truncated, 0)]
    // Classic lengths 9 and 15.
    [InlineData("02 00 00 00 01  00 00 00 01 09 00 00 00 00 00 00 00 00 00", CannelloniError.BadLength, 0)]
    [InlineData("02 00 00 00 02  00 00 00 01 00  00 00 00 01 0F", CannelloniError.BadLength, 1)]
    // FD lengths that are not DLC steps (9, 13, 65, 127), and an FD remote frame.
    [InlineData("02 00 00 00 01  00 00 00 01 89 00", CannelloniError.BadLength, 0)]
    [InlineData("02 00 00 00 01  00 00 00 01 8D 00", CannelloniError.BadLength, 0)]
    [InlineData("02 00 00 00 01  00 00 00 01 C1 00", CannelloniError.BadLength, 0)]
    [InlineData("02 00 00 00 01  00 00 00 01 FF 00", CannelloniError.BadLength, 0)]
    [InlineData("02 00 00 00 01  40 00 00 01 80 00", CannelloniError.BadLength, 0)]
    public void Malformed_datagrams_give_their_reason_and_keep_only_the_frames_before_it(string hex, CannelloniError reason, int kept)
    {
        var (frames, error, _) = Decode(Hex.Parse(hex));
        Assert.Equal(reason, error);
        Assert.Equal(kept, frames.Count);
    }

    [Fact]
    public void Random_bytes_never_throw_and_never_read_past_the_datagram()
    {
        var random = new Random(1234);
        for (int i = 0; i < 20_000; i++)
        {
            byte[] datagram = new byte[random.Next(0, 200)];
            random.NextBytes(datagram);
            if (datagram.Length > 1) { datagram[0] = 2; datagram[1] = 0; }
            var (frames, _, _) = Decode(datagram);
            Assert.All(frames, f => Assert.True(f.IsFd ? f.Length <= 64 : f.Length <= 8));
        }
    }

    [Fact]
    public void The_largest_frame_fits_the_declared_maximum()
    {
        var frame = CanFrame.Fd(0x1FFFFFFF, true, new byte[64]);
        Assert.Equal(CannelloniFormat.MaxFrameSize, CannelloniFormat.EncodedSize(frame));
        Assert.Equal(70, CannelloniFormat.MaxFrameSize);
    }
}
