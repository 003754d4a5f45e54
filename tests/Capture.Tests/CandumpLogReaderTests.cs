using VhostDeviceCan.Can;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Capture.Tests;

/// <summary>candump logs read back frame by frame from a real file descriptor.</summary>
public sealed class CandumpLogReaderTests
{
    private static FileDescriptor Log(string text)
    {
        string path = Path.GetTempFileName();
        File.WriteAllText(path, text);
        var fd = FileDescriptor.Check(Libc.open(path, Libc.O_CLOEXEC, 0), "open");
        File.Delete(path);
        return fd;
    }

    private static List<(long, CanFrame)> ReadAll(CandumpLogReader reader)
    {
        var frames = new List<(long, CanFrame)>();
        while (reader.TryRead(out long at, out CanFrame frame)) frames.Add((at, frame));
        return frames;
    }

    [Fact]
    public void Every_kind_of_frame_comes_back_with_its_time_in_nanoseconds()
    {
        using FileDescriptor file = Log(
            "(1700000000.123456) can0 123#DEADBEEF\n" +
            "\n" +
            "(1700000000.2) vcan1 1F334455#11.22 R\r\n" +
            "(0000000001.000001) can0 456#R4\n" +
            "(1700000001.000000) can0 7FF##1" + string.Concat(Enumerable.Repeat("AB", 12)) + "\n" +
            "(1700000002.000000) can0 001##0 T");
        var frames = ReadAll(new CandumpLogReader(file));
        Assert.Equal(
            [
                (1_700_000_000_123_456_000L, CanFrame.Classic(0x123, false, [0xDE, 0xAD, 0xBE, 0xEF])),
                (1_700_000_000_200_000_000L, CanFrame.Classic(0x1F334455, true, [0x11, 0x22])),
                (1_000_001_000L, CanFrame.Remote(0x456, false, 4)),
                (1_700_000_001_000_000_000L, CanFrame.Fd(0x7FF, false, Enumerable.Repeat((byte)0xAB, 12).ToArray(), CanFrame.CANFD_BRS)),
                (1_700_000_002_000_000_000L, CanFrame.Fd(0x001, false, [], 0)),
            ], frames);
    }

    [Fact]
    public void An_interface_picks_its_lines_and_rewind_reads_the_file_again()
    {
        using FileDescriptor file = Log("(1.0) a 100#01\n(2.0) b 200#02\n(3.0) a 300#03\n");
        var reader = new CandumpLogReader(file, "a");
        Assert.Equal(2, reader.CountFrames());
        Assert.Equal([0x100u, 0x300u], ReadAll(reader).Select(f => f.Item2.Id));
        reader.Rewind();
        Assert.Equal(2, ReadAll(reader).Count);
    }

    [Fact]
    public void A_log_larger_than_the_buffer_is_read_in_pieces()
    {
        int count = 3 * CandumpLogReader.BufferSize / 30;
        using FileDescriptor file = Log(string.Concat(Enumerable.Range(0, count).Select(i => $"({i}.000000) can0 123#{i & 0xFF:X2}\n")));
        var frames = ReadAll(new CandumpLogReader(file));
        Assert.Equal(count, frames.Count);
        Assert.Equal((count - 1) * 1_000_000_000L, frames[^1].Item1);
        Assert.Equal((byte)((count - 1) & 0xFF), frames[^1].Item2.Data[0]);
    }

    [Theory]
    [InlineData("123#11", 1, "starts with '('")]
    [InlineData("(1.0) can0 123#11\n(1.x) can0 123#11", 2, "time stamp")]
    [InlineData("(1.0) can0 123#11\n(2.0) can0", 2, "an interface name and a frame")]
    [InlineData("(1.0) can0 123#1", 1, "odd number of hex digits")]
    [InlineData("(1.0) can0 123#11 extra", 1, "unexpected text")]
    [InlineData("(1.0) can0 800#11", 1, "above 0x7FF")]
    [InlineData("(1.0) can0 123#11\n\n\n(1.0) can0 12345#11", 4, "3 hex digits")]
    [InlineData("(1.0) can0 123#\u00e9\u00e9", 1, "no printable ASCII")]
    [InlineData("(1.1234567890) can0 123#11", 1, "time stamp")]
    public void A_bad_line_is_named_by_its_number(string text, long line, string reason)
    {
        using FileDescriptor file = Log(text);
        var error = Assert.Throws<CandumpLogException>(() => ReadAll(new CandumpLogReader(file)));
        Assert.Equal(line, error.Line);
        Assert.Contains(reason, error.Message);
    }

    [Fact]
    public void A_line_longer_than_any_candump_line_is_refused()
    {
        using FileDescriptor file = Log("(1.0) can0 123#11\n" + new string('x', 5000) + "\n");
        var error = Assert.Throws<CandumpLogException>(() => ReadAll(new CandumpLogReader(file)));
        Assert.Equal(2, error.Line);
    }
}
