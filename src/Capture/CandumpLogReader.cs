using VhostDeviceCan.Can;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Capture;

/// <summary>A line of a candump log that is no frame: its number (from 1) and what is wrong.</summary>
public sealed class CandumpLogException(long line, string reason)
    : Exception($"line {line}: {reason}")
{
    public long Line { get; } = line;
    public string Reason { get; } = reason;
}

/// <summary>
/// Reads a candump log (<see cref="CandumpLog"/>: <c>(1700000000.123456) can0 123#DEADBEEF</c>)
/// frame by frame from a file descriptor, through one buffer of <see cref="BufferSize"/> bytes:
/// a log of any size costs the same memory, and reading a frame allocates nothing. The file is
/// read with pread, so <see cref="Rewind"/> starts it again without seeking a shared position.
/// Empty lines are skipped; any other line must be a frame, else <see cref="CandumpLogException"/>
/// names it. candump's optional direction mark after the frame (<c> T</c>, <c> R</c>) is ignored.
/// </summary>
public sealed class CandumpLogReader
{
    public const int BufferSize = 64 * 1024;

    /// <summary>Longer than any line candump writes (about 160 bytes), short enough to show in an error.</summary>
    public const int MaxLineLength = 1024;

    private readonly FileDescriptor _file;
    private readonly byte[]? _interface;
    private readonly byte[] _buffer = new byte[BufferSize];
    private readonly char[] _frameText = new char[MaxLineLength];
    private int _start;
    private int _end;
    private long _offset;
    private bool _endOfFile;

    /// <param name="file">Read, never closed, by this reader.</param>
    /// <param name="interfaceName">Only lines of this interface are frames (the others are
    /// skipped); null takes every line's frame whatever its interface.</param>
    public CandumpLogReader(FileDescriptor file, string? interfaceName = null)
    {
        _file = file;
        if (interfaceName is not null) _interface = System.Text.Encoding.ASCII.GetBytes(interfaceName);
    }

    /// <summary>The number of the line the last frame came from (from 1).</summary>
    public long Line { get; private set; }

    /// <summary>Back to the first line.</summary>
    public void Rewind()
    {
        _start = _end = 0;
        _offset = 0;
        _endOfFile = false;
        Line = 0;
    }

    /// <summary>
    /// The next frame and its time stamp in nanoseconds since the epoch; false at the end of the
    /// file. Throws <see cref="CandumpLogException"/> for a line that is no frame and
    /// <see cref="SyscallException"/> when the file cannot be read.
    /// </summary>
    public bool TryRead(out long timestampNanoseconds, out CanFrame frame)
    {
        while (TryNextLine(out ReadOnlySpan<byte> line))
        {
            Line++;
            line = line.TrimEnd((byte)'\r');
            if (line.Trim(" \t"u8).IsEmpty) continue;
            if (TryParse(line, out timestampNanoseconds, out frame)) return true;
        }
        timestampNanoseconds = 0;
        frame = default;
        return false;
    }

    /// <summary>
    /// Reads the whole file once from its start: the frames it holds (of the chosen interface),
    /// or the first bad line's exception. Leaves the reader at its start.
    /// </summary>
    public long CountFrames()
    {
        Rewind();
        long frames = 0;
        while (TryRead(out _, out _)) frames++;
        Rewind();
        return frames;
    }

    private bool TryNextLine(out ReadOnlySpan<byte> line)
    {
        while (true)
        {
            int newline = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                line = _buffer.AsSpan(_start, newline);
                _start += newline + 1;
                if (line.Length > MaxLineLength) throw TooLong();
                return true;
            }
            if (_endOfFile)
            {
                // A last line without its newline is a line all the same.
                line = _buffer.AsSpan(_start, _end - _start);
                _start = _end;
                if (line.Length > MaxLineLength) throw TooLong();
                return !line.IsEmpty;
            }
            if (_end - _start > MaxLineLength) throw TooLong();
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
            int read = _file.ReadAt(_buffer.AsSpan(_end), _offset);
            if (read == 0) _endOfFile = true;
            _offset += read;
            _end += read;
        }
    }

    private CandumpLogException TooLong() => new(Line + 1, $"longer than {MaxLineLength} bytes: this is no candump log");

    /// <summary>"(SECONDS.FRACTION) INTERFACE FRAME [T|R]"; false for a line of another interface.</summary>
    private bool TryParse(ReadOnlySpan<byte> line, out long timestamp, out CanFrame frame)
    {
        timestamp = 0;
        frame = default;
        if (line[0] != '(') throw Bad("a frame line starts with '(' and its time stamp: (1700000000.123456) can0 123#DEADBEEF", line);
        int close = line.IndexOf((byte)')');
        if (close < 0 || !TryParseTime(line[1..close], out timestamp))
            throw Bad("the time stamp must be (SECONDS.FRACTION), such as (1700000000.123456)", line);
        ReadOnlySpan<byte> rest = line[(close + 1)..].TrimStart(" \t"u8);
        int space = rest.IndexOfAny(" \t"u8);
        if (space <= 0) throw Bad("an interface name and a frame must follow the time stamp", line);
        ReadOnlySpan<byte> name = rest[..space];
        rest = rest[space..].TrimStart(" \t"u8);
        int end = rest.IndexOfAny(" \t"u8);
        ReadOnlySpan<byte> text = end < 0 ? rest : rest[..end];
        if (end >= 0)
        {
            ReadOnlySpan<byte> mark = rest[end..].Trim(" \t"u8);
            if (!mark.IsEmpty && !mark.SequenceEqual("T"u8) && !mark.SequenceEqual("R"u8))
                throw Bad($"unexpected text after the frame", line);
        }
        if (_interface is not null && !name.SequenceEqual(_interface)) return false;
        if (text.IsEmpty) throw Bad("a frame must follow the interface name", line);
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] is < 0x21 or > 0x7E) throw Bad("the frame holds a byte that is no printable ASCII", line);
            _frameText[i] = (char)text[i];
        }
        if (!CansendSyntax.TryParse(_frameText.AsSpan(0, text.Length), out frame, out string? error))
            throw Bad(error!, line);
        return true;
    }

    private static bool TryParseTime(ReadOnlySpan<byte> text, out long nanoseconds)
    {
        nanoseconds = 0;
        int dot = text.IndexOf((byte)'.');
        ReadOnlySpan<byte> whole = dot < 0 ? text : text[..dot];
        ReadOnlySpan<byte> fraction = dot < 0 ? default : text[(dot + 1)..];
        // Twelve digits of seconds reach the year 33658; more would overflow nanoseconds.
        if (whole.IsEmpty || whole.Length > 12 || fraction.Length > 9) return false;
        long seconds = 0;
        foreach (byte digit in whole)
        {
            if (digit is < (byte)'0' or > (byte)'9') return false;
            seconds = seconds * 10 + (digit - '0');
        }
        long fractionNanos = 0;
        for (int i = 0; i < 9; i++)
        {
            int digit = i < fraction.Length ? fraction[i] - '0' : 0;
            if (digit is < 0 or > 9) return false;
            fractionNanos = fractionNanos * 10 + digit;
        }
        nanoseconds = seconds * 1_000_000_000 + fractionNanos;
        return true;
    }

    private CandumpLogException Bad(string reason, ReadOnlySpan<byte> line) => new(Line, $"{reason}: '{Show(line)}'");

    /// <summary>The line as an error may quote it: printable ASCII, at most 60 characters.</summary>
    private static string Show(ReadOnlySpan<byte> line)
    {
        int length = Math.Min(line.Length, 60);
        var chars = new char[length];
        for (int i = 0; i < length; i++) chars[i] = line[i] is >= 0x20 and <= 0x7E ? (char)line[i] : '?';
        return new string(chars) + (line.Length > length ? "..." : "");
    }
}
