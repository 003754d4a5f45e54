using System.Globalization;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;

namespace VhostDeviceCan.Simulator;

/// <summary>candump's timestamp choices (<c>-t a|A|d|z</c>).</summary>
internal enum TimestampMode
{
    None,
    /// <summary><c>a</c>: seconds since the epoch, <c>(1733580000.123456)</c>.</summary>
    Absolute,
    /// <summary><c>A</c>: local date and time, <c>(2024-12-07 14:00:00.123456)</c>.</summary>
    Date,
    /// <summary><c>d</c>: since the previous frame, <c>(000.000250)</c>.</summary>
    Delta,
    /// <summary><c>z</c>: since the first frame.</summary>
    Zero,
}

/// <summary>
/// One received frame as candump prints it: columns (<c>  can.sock1  123   [4]  DE AD BE EF</c>,
/// a timestamp first with <c>-t</c>) or the log format log2asc and canplayer read
/// (<c>(1733580000.123456) can.sock1 123#DEADBEEF</c>, always with the absolute time).
/// </summary>
internal sealed class DumpFormat(string interfaceName, bool logFormat, TimestampMode timestamps)
{
    /// <summary>An interface name's longest: IFNAMSIZ (16) less the terminating zero.</summary>
    public const int MaxLogNameLength = 15;

    private readonly string _logName = LogName(interfaceName);
    private DateTime? _reference;

    /// <summary>
    /// The name a log line gives the frame's interface. canplayer refuses a log whose name is
    /// longer than an interface name can be, and log2asc and canplayer split a line at spaces;
    /// so a longer name keeps its last <see cref="MaxLogNameLength"/> characters (where a
    /// daemon's sockets differ: the index), and anything but printable ASCII becomes '_'.
    /// </summary>
    public static string LogName(string name)
    {
        if (name.Length == 0) return "_";
        Span<char> chars = stackalloc char[Math.Min(name.Length, MaxLogNameLength)];
        ReadOnlySpan<char> tail = name.AsSpan(name.Length - chars.Length);
        for (int i = 0; i < chars.Length; i++) chars[i] = tail[i] is > ' ' and < (char)0x7F ? tail[i] : '_';
        return new string(chars);
    }

    public static bool TryParseMode(string text, out TimestampMode mode)
    {
        mode = text switch
        {
            "a" => TimestampMode.Absolute,
            "A" => TimestampMode.Date,
            "d" => TimestampMode.Delta,
            "z" => TimestampMode.Zero,
            _ => TimestampMode.None,
        };
        return mode != TimestampMode.None;
    }

    public string Line(in CanFrame frame, DateTime receivedUtc)
    {
        if (logFormat) return $"({EpochTime(receivedUtc)}) {_logName} {frame}";
        string columns = CansendSyntax.FormatCandump(interfaceName, frame);
        if (timestamps == TimestampMode.None) return columns;
        // candump: a space, the stamp and its space, then the columns' own leading space.
        return $" ({Stamp(receivedUtc)}) {columns[1..]}";
    }

    private string Stamp(DateTime receivedUtc)
    {
        switch (timestamps)
        {
            case TimestampMode.Absolute:
                return EpochTime(receivedUtc);
            case TimestampMode.Date:
                DateTime local = receivedUtc.ToLocalTime();
                return local.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + "." + Microseconds(local.Ticks);
            default:
                DateTime reference = _reference ?? receivedUtc;
                if (timestamps == TimestampMode.Delta || _reference is null) _reference = receivedUtc;
                long ticks = Math.Max(0, (receivedUtc - reference).Ticks);
                return (ticks / TimeSpan.TicksPerSecond).ToString("D3", CultureInfo.InvariantCulture) + "." + Microseconds(ticks);
        }
    }

    private static string EpochTime(DateTime utc)
    {
        long ticks = (utc - DateTime.UnixEpoch).Ticks;
        return (ticks / TimeSpan.TicksPerSecond).ToString("D10", CultureInfo.InvariantCulture) + "." + Microseconds(ticks);
    }

    private static string Microseconds(long ticks) =>
        (ticks % TimeSpan.TicksPerSecond / TimeSpan.TicksPerMicrosecond).ToString("D6", CultureInfo.InvariantCulture);
}
