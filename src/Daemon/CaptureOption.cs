using System.Globalization;
using VhostDeviceCan.Capture;

namespace VhostDeviceCan.Daemon;

/// <summary>
/// One --capture value: <c>TARGET=FILE[,format=pcapng|log][,max-size=SIZE][,keep=N]</c>. TARGET
/// is <c>all</c>, a guest (socket) index, or a bus as --can-devices names it; FILE's ending
/// (<c>.pcapng</c>, <c>.log</c>) chooses the format unless <c>format=</c> does; SIZE is bytes
/// with an optional k, M or G (powers of 1024).
/// </summary>
public sealed record CaptureOption(string Target, string Path, CaptureFormat Format, long MaxSize, int Keep)
{
    public const string Syntax = "TARGET=FILE[,format=pcapng|log][,max-size=SIZE][,keep=N]";

    /// <summary>Most rotated files kept: enough for any test run, few enough to list.</summary>
    public const int MaxKeep = 1000;

    public CaptureDestination Destination => CaptureDestination.ToFile(Path, MaxSize, Keep);

    /// <summary>Null and a one-line reason when <paramref name="text"/> is not of <see cref="Syntax"/>.</summary>
    public static CaptureOption? Parse(string text, out string? error)
    {
        error = null;
        // The target's own '=' never occurs (vbus names have none), so the first one splits.
        int equals = text.IndexOf('=');
        if (equals <= 0 || equals == text.Length - 1)
        {
            error = $"--capture '{text}' is not {Syntax} (e.g. --capture vbus:default=/tmp/bus.pcapng)";
            return null;
        }
        string target = text[..equals];
        string[] parts = text[(equals + 1)..].Split(',');
        string path = parts[0];
        if (path == "-")
        {
            error = "--capture: '-' (standard output) is the daemon's log, not a capture; give a file";
            return null;
        }
        if (path.Length == 0)
        {
            error = $"--capture '{text}' names no file";
            return null;
        }
        CaptureFormat? format = null;
        long maxSize = 0;
        int keep = CaptureDestination.DefaultKeep;
        foreach (string part in parts.Skip(1))
        {
            int eq = part.IndexOf('=');
            string name = eq < 0 ? part : part[..eq];
            string value = eq < 0 ? "" : part[(eq + 1)..];
            switch (name)
            {
                case "format" when CaptureFormats.TryParse(value, out CaptureFormat f):
                    format = f;
                    break;
                case "max-size" when TryParseSize(value, out maxSize) && maxSize >= CaptureDestination.MinMaxSize:
                    break;
                case "keep" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out keep) && keep <= MaxKeep:
                    break;
                default:
                    error = $"--capture '{text}': '{part}' is not one of format=pcapng|log, max-size=SIZE "
                        + $"(at least {CaptureDestination.MinMaxSize} bytes; k, M, G), keep=N (0 to {MaxKeep})";
                    return null;
            }
        }
        format ??= CaptureFormats.FromFileName(path);
        if (format is null)
        {
            error = $"--capture '{text}': FILE ends in neither .pcapng nor .log; add ,format=pcapng or ,format=log";
            return null;
        }
        return new CaptureOption(target, path, format.Value, maxSize, keep);
    }

    /// <summary>"4096", "64k", "10M", "1G": bytes, the suffixes powers of 1024.</summary>
    public static bool TryParseSize(string text, out long bytes) => CaptureDestination.TryParseSize(text, out bytes);

    /// <summary>Whether <see cref="Target"/> names a guest of <paramref name="devices"/>; the reason when not.</summary>
    public string? CheckTarget(IReadOnlyList<DeviceSpec> devices)
    {
        if (Target == "all") return null;
        if (Target.All(char.IsAsciiDigit))
            return int.TryParse(Target, NumberStyles.None, CultureInfo.InvariantCulture, out int index) && index < devices.Count
                ? null : $"--capture {Target}=...: guests are numbered 0 to {devices.Count - 1}";
        return devices.Any(d => d.ToString() == Target) ? null
            : $"--capture {Target}=...: no guest is on '{Target}'; the target is all, a guest index, or one of: {string.Join(", ", devices.Select(d => d.ToString()).Distinct())}";
    }
}
