using VhostDeviceCan.Can.Cannelloni;

namespace VhostDeviceCan.Can.Tests;

/// <summary>The cannelloni TCP stream against byte rows written from its document
/// (docs/spec/cannelloni.md §5 and docs/spec/cannelloni.md §6): the handshake, then frames with no header between them.</summary>
public class CannelloniStreamTests
{
    private const string Handshake = "43 41 4E 4E 45 4C 4C 4F 4E 49 76 31";

    /// <summary>Feeds <paramref name="stream"/> in pieces of <paramref name="piece"/> bytes and takes
    /// every frame after each piece, as a bridge does; stops at a final error.</summary>
    private static (List<CanFrame> Frames, CannelloniError Error) Read(byte[] stream, int piece, CannelloniStreamReader? reader = null)
    {
        reader ??= new CannelloniStreamReader();
        var frames = new List<CanFrame>();
        for (int at = 0; at < stream.Length;)
        {
            Span<byte> free = reader.FreeSpace;
            int n = Math.Min(Math.Min(piece, free.Length), stream.Length - at);
            stream.AsSpan(at, n).CopyTo(free);
            reader.Commit(n);
            at += n;
            CannelloniError error;
            while ((error = reader.Next(out CanFrame frame)) == CannelloniError.None) frames.Add(frame);
            if (error != CannelloniError.Truncated) return (frames, error);
        }
        return (frames, CannelloniError.Truncated);
    }

    public static TheoryData<string, CanFrame> Rows => new()
    {
        // Standard ID 0x123, 3 bytes: can_id big-endian, len, data.
        { "00 00 01 23  03  11 22 33", CanFrame.Classic(0x123, false, [0x11, 0x22, 0x33]) },
        // Extended: EFF is bit 31.
        { "92 34 56 78  02  AA BB", CanFrame.Classic(0x12345678, true, [0xAA, 0xBB]) },
        // Length 0: the frame ends after len.
        { "00 00 07 FF  00", CanFrame.Classic(0x7FF, false, []) },
        // Remote, standard and extended: RTR is bit 30, len carries the DLC, no data follows.
        { "40 00 01 00  04", CanFrame.Remote(0x100, false, 4) },
        { "C0 00 00 42  08", CanFrame.Remote(0x42, true, 8) },
        // FD, 12 bytes, BRS and ESI: len | 0x80, the flags byte, then the data.
        { "00 00 02 00  8C  03  01 02 03 04 05 06 07 08 09 0A 0B 0C",
            CanFrame.Fd(0x200, false, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], CanFrame.CANFD_BRS | CanFrame.CANFD_ESI) },
        // FD extended, no data, BRS only.
        { "80 00 00 01  80  01", CanFrame.Fd(1, true, [], CanFrame.CANFD_BRS) },
    };

    [Theory]
    [MemberData(nameof(Rows))]
    public void A_frame_after_the_handshake_has_the_documented_bytes_whole_or_split_anywhere(string hex, CanFrame frame)
    {
        var encoded = new byte[CannelloniFormat.MaxFrameSize];
        int length = CannelloniFormat.WriteFrame(frame, encoded);
        Assert.Equal(hex.Replace("  ", " ", StringComparison.Ordinal), Hex.Format(encoded.AsSpan(0, length)));
        byte[] stream = Hex.Parse(Handshake + " " + hex);
        foreach (int piece in new[] { stream.Length, 1, 2, 5, 13 })
        {
            var (frames, error) = Read(stream, piece);
            Assert.Equal(CannelloniError.Truncated, error);
            Assert.Equal(frame, Assert.Single(frames));
        }
    }

    [Fact]
    public void The_handshake_is_the_twelve_ascii_bytes_of_CANNELLONIv1_without_a_terminator()
    {
        Assert.Equal(Handshake, Hex.Format(CannelloniFormat.TcpHandshake));
        var reader = new CannelloniStreamReader();
        byte[] partial = Hex.Parse("43 41 4E 4E 45 4C 4C 4F 4E 49 76");
        partial.CopyTo(reader.FreeSpace);
        reader.Commit(partial.Length);
        Assert.Equal(CannelloniError.Truncated, reader.Next(out _));
        Assert.False(reader.HandshakeDone);
        reader.FreeSpace[0] = 0x31;
        reader.Commit(1);
        Assert.Equal(CannelloniError.Truncated, reader.Next(out _));
        Assert.True(reader.HandshakeDone);
    }

    [Fact]
    public void Many_frames_back_to_back_come_out_in_order_across_every_split_and_buffer_wrap()
    {
        var frames = new List<CanFrame>();
        var stream = new List<byte>(Hex.Parse(Handshake));
        var encoded = new byte[CannelloniFormat.MaxFrameSize];
        for (int i = 0; i < 2000; i++)
        {
            CanFrame frame = (i % 4) switch
            {
                0 => CanFrame.Classic((uint)(i & 0x7FF), false, new byte[i % 9]),
                1 => CanFrame.Remote((uint)i, true, i % 9),
                2 => CanFrame.Fd((uint)i, true, Enumerable.Range(0, 64).Select(b => (byte)(b ^ i)).ToArray()[..CanFrame.RoundUpFdLength(i % 65)], CanFrame.CANFD_BRS),
                _ => CanFrame.Classic((uint)i, true, [(byte)i, (byte)(i >> 8)]),
            };
            frames.Add(frame);
            stream.AddRange(encoded.AsSpan(0, CannelloniFormat.WriteFrame(frame, encoded)).ToArray());
        }
        foreach (int piece in new[] { 1, 3, 7, 69, 70, 71, 4096, 100_000 })
        {
            // A small buffer makes the partial frame move to the front many times.
            var (read, error) = Read([.. stream], piece, new CannelloniStreamReader(CannelloniFormat.MaxFrameSize + 1));
            Assert.Equal(CannelloniError.Truncated, error);
            Assert.Equal(frames, read);
        }
    }

    [Theory]
    // A wrong first byte, another version, the string in lower case.
    [InlineData("58", CannelloniError.WrongHandshake)]
    [InlineData("43 41 4E 4E 45 4C 4C 4F 4E 49 76 32", CannelloniError.WrongHandshake)]
    [InlineData("63 61 6E 6E 65 6C 6C 6F 6E 69 76 31", CannelloniError.WrongHandshake)]
    // A UDP datagram header where the handshake belongs.
    [InlineData("02 00 00 00 01 00 00 01 23 00", CannelloniError.WrongHandshake)]
    // After a good handshake: classic lengths 9 and 15, FD lengths off the DLC steps (13, 65, 127), an FD remote frame.
    [InlineData(Handshake + " 00 00 00 01 09", CannelloniError.BadLength)]
    [InlineData(Handshake + " 00 00 00 01 0F", CannelloniError.BadLength)]
    [InlineData(Handshake + " 00 00 00 01 8D", CannelloniError.BadLength)]
    [InlineData(Handshake + " 00 00 00 01 C1", CannelloniError.BadLength)]
    [InlineData(Handshake + " 00 00 00 01 FF", CannelloniError.BadLength)]
    [InlineData(Handshake + " 40 00 00 01 80 00", CannelloniError.BadLength)]
    public void A_wrong_handshake_or_an_impossible_length_is_final(string hex, CannelloniError reason)
    {
        foreach (int piece in new[] { 1, 100 })
        {
            var (frames, error) = Read(Hex.Parse(hex), piece);
            Assert.Equal(reason, error);
            Assert.Empty(frames);
        }
    }

    [Fact]
    public void Frames_before_a_bad_one_stand_and_a_truncated_end_waits_for_more()
    {
        var (frames, error) = Read(Hex.Parse(Handshake + " 00 00 00 01 01 AA  00 00 00 02 0C"), 100);
        Assert.Equal(CannelloniError.BadLength, error);
        Assert.Equal(CanFrame.Classic(1, false, [0xAA]), Assert.Single(frames));

        var reader = new CannelloniStreamReader();
        (frames, error) = Read(Hex.Parse(Handshake + " 00 00 00 01 04 AA BB"), 100, reader);
        Assert.Equal(CannelloniError.Truncated, error);
        Assert.Empty(frames);
        Assert.Equal(7, reader.Buffered);
        reader.Reset();
        Assert.Equal(0, reader.Buffered);
        Assert.False(reader.HandshakeDone);
    }

    [Fact]
    public void Random_bytes_after_the_handshake_never_throw_and_only_give_possible_frames()
    {
        var random = new Random(4321);
        for (int i = 0; i < 5000; i++)
        {
            byte[] garbage = new byte[random.Next(0, 300)];
            random.NextBytes(garbage);
            var (frames, _) = Read([.. Hex.Parse(Handshake), .. garbage], random.Next(1, 80));
            Assert.All(frames, f => Assert.True(f.IsFd ? f.Length <= 64 && !f.IsRemote : f.Length <= 8));
        }
    }
}
