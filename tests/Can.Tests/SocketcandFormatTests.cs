using System.Text;
using VhostDeviceCan.Can.Socketcand;

namespace VhostDeviceCan.Can.Tests;

/// <summary>socketcand's elements, parsed and written, with rows from its protocol document and
/// from what socketcand and python-can 4.1.0 put on the wire (docs/spec/socketcand.md).</summary>
public class SocketcandFormatTests
{
    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    [Theory]
    // docs/spec/socketcand.md §1: from the first '<' to the first '>' after it; bytes before are garbage.
    [InlineData("< hi >", 0, 5)]
    [InlineData("xx< open can0 >< rawmode >", 2, 14)]
    [InlineData("<>", 0, 1)]
    [InlineData("> < echo >", 2, 9)]
    public void A_complete_element_is_found(string text, int start, int end)
    {
        Assert.True(SocketcandFormat.FindElement(Ascii(text), out int foundStart, out int foundEnd));
        Assert.Equal((start, end), (foundStart, foundEnd));
    }

    [Theory]
    [InlineData("< send 123 1", 0)]
    [InlineData("garbage <", 8)]
    [InlineData("no element at all", -1)]
    [InlineData("", -1)]
    public void An_incomplete_element_or_garbage_is_reported(string text, int start)
    {
        Assert.False(SocketcandFormat.FindElement(Ascii(text), out int foundStart, out _));
        Assert.Equal(start, foundStart);
    }

    [Theory]
    [InlineData(" open can0 ", SocketcandCommand.Open)]
    [InlineData(" send 123 0 ", SocketcandCommand.Send)]
    [InlineData(" echo ", SocketcandCommand.Echo)]
    [InlineData(" rawmode ", SocketcandCommand.RawMode)]
    [InlineData("bcmmode", SocketcandCommand.BcmMode)]
    [InlineData(" controlmode ", SocketcandCommand.ControlMode)]
    [InlineData(" isotpmode ", SocketcandCommand.IsotpMode)]
    [InlineData(" add 1 0 123 8 11 22 33 44 55 66 77 88 ", SocketcandCommand.BcmJob)]
    [InlineData(" update 123 3 11 22 33 ", SocketcandCommand.BcmJob)]
    [InlineData(" delete 123 ", SocketcandCommand.BcmJob)]
    [InlineData(" filter 0 0 123 1 FF ", SocketcandCommand.BcmJob)]
    [InlineData(" muxfilter 0 0 123 2 FF 00 00 00 00 00 00 00 33 FF FF FF FF FF FF FF ", SocketcandCommand.BcmJob)]
    [InlineData(" subscribe 0 0 123 ", SocketcandCommand.BcmJob)]
    [InlineData(" unsubscribe 123 ", SocketcandCommand.BcmJob)]
    [InlineData(" can0 B 500000 ", SocketcandCommand.Unknown)]
    [InlineData(" ", SocketcandCommand.Unknown)]
    [InlineData(" SEND 123 0 ", SocketcandCommand.Unknown)]
    public void Commands_are_told_by_their_first_word(string inside, SocketcandCommand expected)
    {
        Assert.Equal(expected, SocketcandFormat.Classify(Ascii(inside), out _));
    }

    public static TheoryData<string, CanFrame> GoodSends => new()
    {
        // The document's rows (docs/spec/socketcand.md §3).
        { " send 123 0 ", CanFrame.Classic(0x123, false, []) },
        { " send 1AAAAAAA 2 1 f1 ", CanFrame.Classic(0x1AAAAAAA, true, [0x01, 0xF1]) },
        // python-can 4.1.0 (docs/spec/socketcand.md §6): unpadded upper-case ID, lower-case unpadded bytes, two spaces when empty.
        { " send 7FF 8 0 1 a ff 10 20 30 40 ", CanFrame.Classic(0x7FF, false, [0, 1, 0xA, 0xFF, 0x10, 0x20, 0x30, 0x40]) },
        { " send 1ABCDEF 1 5a ", CanFrame.Classic(0x1ABCDEF, true, [0x5A]) },
        { " send 5 0  ", CanFrame.Classic(0x5, false, []) },
        // 8 digits make an extended ID even when its value is small.
        { " send 00000123 1 01 ", CanFrame.Classic(0x123, true, [0x01]) },
        { " send 1FFFFFFF 0 ", CanFrame.Classic(0x1FFFFFFF, true, []) },
        // SavvyCAN sets the kernel's extended flag (bit 31) in the ID.
        { " send 80000123 2 aa bb ", CanFrame.Classic(0x123, true, [0xAA, 0xBB]) },
    };

    [Theory]
    [MemberData(nameof(GoodSends))]
    public void A_send_becomes_its_frame(string inside, CanFrame expected)
    {
        byte[] text = Ascii(inside);
        Assert.Equal(SocketcandCommand.Send, SocketcandFormat.Classify(text, out int at));
        Assert.Equal(SocketcandSendError.None, SocketcandFormat.ParseSend(text, at, out CanFrame frame));
        Assert.Equal(expected, frame);
    }

    [Theory]
    [InlineData(" send ", SocketcandSendError.Missing)]
    [InlineData(" send 123 ", SocketcandSendError.Missing)]
    [InlineData(" send 123456789 0 ", SocketcandSendError.BadId)]
    [InlineData(" send 20000000 0 ", SocketcandSendError.BadId)]
    [InlineData(" send C0000000 0 ", SocketcandSendError.BadId)]
    [InlineData(" send 0x12 0 ", SocketcandSendError.BadId)]
    [InlineData(" send -1 0 ", SocketcandSendError.BadId)]
    [InlineData(" send 123 9 1 2 3 4 5 6 7 8 9 ", SocketcandSendError.BadLength)]
    [InlineData(" send 123 A ", SocketcandSendError.BadLength)]
    [InlineData(" send 123 08 ", SocketcandSendError.BadLength)]
    [InlineData(" send 123 2 11 ", SocketcandSendError.BadData)]
    [InlineData(" send 123 1 11 22 ", SocketcandSendError.BadData)]
    [InlineData(" send 123 1 123 ", SocketcandSendError.BadData)]
    [InlineData(" send 123 1 g ", SocketcandSendError.BadData)]
    // python-can's remote frame: its length and no bytes.
    [InlineData(" send 123 2  ", SocketcandSendError.BadData)]
    public void A_malformed_send_is_refused(string inside, SocketcandSendError expected)
    {
        byte[] text = Ascii(inside);
        SocketcandFormat.Classify(text, out int at);
        Assert.Equal(expected, SocketcandFormat.ParseSend(text, at, out CanFrame frame));
        Assert.Equal(default, frame);
    }

    public static TheoryData<CanFrame, long, string> Reports => new()
    {
        // The document's row (docs/spec/socketcand.md §4), at 23.424242 s.
        { CanFrame.Classic(0x123, false, [0x1A, 0x22, 0x03, 0x44]), 23_424_242, " < frame 123 23.424242 1A220344 >" },
        { CanFrame.Classic(0x5, false, []), 1_700_000_000_000_001, " < frame 005 1700000000.000001  >" },
        { CanFrame.Classic(0x1F, true, [0xFF, 0, 1, 2, 3, 4, 5, 0xAB]), 0, " < frame 0000001F 0.000000 FF000102030405AB >" },
        { CanFrame.Classic(0x1FFFFFFF, true, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]), long.MaxValue,
            " < frame 1FFFFFFF 9223372036854.775807 FFFFFFFFFFFFFFFF >" },
    };

    [Theory]
    [MemberData(nameof(Reports))]
    public void A_frame_is_reported_as_socketcand_writes_it(CanFrame frame, long microseconds, string expected)
    {
        var buffer = new byte[SocketcandFormat.MaxFrameLength];
        int length = SocketcandFormat.WriteFrame(in frame, microseconds, buffer);
        Assert.Equal(expected, Encoding.ASCII.GetString(buffer, 0, length));
    }

    [Fact]
    public void The_longest_report_fits_its_bound()
    {
        var frame = CanFrame.Classic(0x1FFFFFFF, true, [1, 2, 3, 4, 5, 6, 7, 8]);
        var buffer = new byte[SocketcandFormat.MaxFrameLength];
        // A 20-digit second count cannot come from a long of microseconds: 19 digits is the most.
        Assert.True(SocketcandFormat.WriteFrame(in frame, long.MaxValue, buffer) <= SocketcandFormat.MaxFrameLength);
    }

    [Fact]
    public void Frames_the_protocol_cannot_carry_are_not_written()
    {
        var buffer = new byte[SocketcandFormat.MaxFrameLength];
        Assert.Equal(0, SocketcandFormat.WriteFrame(CanFrame.Fd(0x1, false, [1]), 0, buffer));
        Assert.Equal(0, SocketcandFormat.WriteFrame(CanFrame.Remote(0x1, false, 2), 0, buffer));
        Assert.Equal(0, SocketcandFormat.WriteFrame(new CanFrame { CanId = CanFrame.CAN_ERR_FLAG | 4, Len = 8 }, 0, buffer));
    }
}
