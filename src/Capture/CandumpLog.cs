using System.Globalization;
using VhostDeviceCan.Can;

namespace VhostDeviceCan.Capture;

/// <summary>
/// The log format of <c>candump -l</c> / <c>-L</c>, which can-utils' <c>log2asc</c> and
/// <c>canplayer</c> read: <c>(1733580000.123456) can0 123#DEADBEEF</c>, one frame a line.
/// </summary>
public static class CandumpLog
{
    /// <summary>An interface name's longest: IFNAMSIZ (16) less the terminating zero.</summary>
    public const int MaxNameLength = 15;

    /// <summary>"(", ten digits of seconds, ".", six of microseconds, ")".</summary>
    private const int StampLength = 1 + 10 + 1 + 6 + 1;

    /// <summary>The longest line <see cref="FormatLine"/> writes, newline included.</summary>
    public const int MaxLineLength = StampLength + 1 + MaxNameLength + 1 + CanFrame.MaxCompactLength + 1;

    /// <summary>
    /// The name a log line gives an interface. canplayer refuses a log whose name is longer than
    /// an interface name can be, and log2asc and canplayer split a line at spaces; so a longer
    /// name keeps its last <see cref="MaxNameLength"/> characters (where names differ: an index
    /// at the end), and anything but printable ASCII becomes '_'.
    /// </summary>
    public static string Name(string name)
    {
        if (name.Length == 0) return "_";
        Span<char> chars = stackalloc char[Math.Min(name.Length, MaxNameLength)];
        ReadOnlySpan<char> tail = name.AsSpan(name.Length - chars.Length);
        for (int i = 0; i < chars.Length; i++) chars[i] = tail[i] is > ' ' and < (char)0x7F ? tail[i] : '_';
        return new string(chars);
    }

    /// <summary>Seconds since the epoch with six decimals, as candump's <c>-t a</c> and its log show them.</summary>
    public static string EpochTime(DateTime utc)
    {
        Span<char> text = stackalloc char[StampLength];
        int length = FormatEpochTime(text, (utc - DateTime.UnixEpoch).Ticks * 100);
        return new string(text[1..(length - 1)]);
    }

    /// <summary>One log line, newline included, into <paramref name="destination"/> (at least
    /// <see cref="MaxLineLength"/> characters); <paramref name="name"/> must come from <see cref="Name"/>.
    /// Returns the length written.</summary>
    public static int FormatLine(Span<char> destination, long epochNanoseconds, ReadOnlySpan<char> name, in CanFrame frame)
    {
        int at = FormatEpochTime(destination, epochNanoseconds);
        destination[at++] = ' ';
        name.CopyTo(destination[at..]);
        at += name.Length;
        destination[at++] = ' ';
        at += frame.FormatCompact(destination[at..]);
        destination[at++] = '\n';
        return at;
    }

    /// <summary>"(SSSSSSSSSS.UUUUUU)": candump prints the seconds with at least ten digits.</summary>
    private static int FormatEpochTime(Span<char> destination, long epochNanoseconds)
    {
        long micros = Math.Max(0, epochNanoseconds) / 1000;
        destination[0] = '(';
        (micros / 1_000_000).TryFormat(destination[1..], out int seconds, "D10", CultureInfo.InvariantCulture);
        int at = 1 + seconds;
        destination[at++] = '.';
        (micros % 1_000_000).TryFormat(destination[at..], out int fraction, "D6", CultureInfo.InvariantCulture);
        at += fraction;
        destination[at++] = ')';
        return at;
    }
}
