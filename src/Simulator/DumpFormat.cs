using System.Globalization;
using VhostDeviceCan.Can;
using VhostDeviceCan.Capture;
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
    private readonly string _logName = LogName(interfaceName);
    private DateTime? _reference;

    /// <summary>The name a log line gives the frame's interface (<see cref="CandumpLog.Name"/>).</summary>
    public static string LogName(string name) => CandumpLog.Name(name);

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

    private static string EpochTime(DateTime utc) => CandumpLog.EpochTime(utc);

    private static string Microseconds(long ticks) =>
        (ticks % TimeSpan.TicksPerSecond / TimeSpan.TicksPerMicrosecond).ToString("D6", CultureInfo.InvariantCulture);
}
