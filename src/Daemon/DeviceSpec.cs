using System.Globalization;
using VhostDeviceCan.Can;

namespace VhostDeviceCan.Daemon;

/// <summary>What one socket's device is attached to: a host SocketCAN interface or a virtual bus,
/// with the bus's overrun bound and timing when the entry sets them
/// (<c>vbus:NAME,overrun-ms=N,bitrate=N,dbitrate=N</c>, options in any order).</summary>
public readonly record struct DeviceSpec(DeviceKind Kind, string Name, TimeSpan? OverrunAfter = null, BusTiming? Timing = null)
{
    public const string VirtualBusPrefix = "vbus:";
    public const string DefaultVirtualBus = "default";
    public const string OverrunOption = "overrun-ms=";
    public const string BitrateOption = "bitrate=";
    public const string DataBitrateOption = "dbitrate=";

    /// <summary>Up to a minute: a longer stall of every other guest is never what one wants.</summary>
    public const int MaxOverrunMilliseconds = 60_000;

    /// <summary>Linux IFNAMSIZ is 16 including the terminating zero.</summary>
    public const int MaxInterfaceNameLength = 15;

    public static DeviceSpec VirtualBus(string name, TimeSpan? overrunAfter = null, BusTiming? timing = null) =>
        new(DeviceKind.VirtualBus, name, overrunAfter, timing);
    public static DeviceSpec SocketCan(string name) => new(DeviceKind.SocketCan, name);

    /// <summary>Parses one --can-devices entry; null with <paramref name="error"/> set when invalid.</summary>
    public static DeviceSpec? Parse(string entry, out string? error)
    {
        error = null;
        if (entry.StartsWith(VirtualBusPrefix, StringComparison.Ordinal))
        {
            string[] parts = entry[VirtualBusPrefix.Length..].Split(',');
            string bus = parts[0];
            if (bus.Length == 0 || !bus.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                error = $"invalid virtual bus '{entry}': use vbus:NAME with letters, digits, '-', '_' or '.'";
                return null;
            }
            int? overrunMs = null, bitrate = null, dataBitrate = null;
            foreach (string option in parts.Skip(1))
            {
                if (!(TryOption(option, OverrunOption, 1, MaxOverrunMilliseconds, "milliseconds", ref overrunMs, out error)
                    ?? TryOption(option, BitrateOption, BusTiming.MinBitrate, BusTiming.MaxBitrate, "bit/s", ref bitrate, out error)
                    ?? TryOption(option, DataBitrateOption, BusTiming.MinBitrate, BusTiming.MaxDataBitrate, "bit/s", ref dataBitrate, out error)
                    ?? Unknown(option, out error)))
                {
                    error = $"invalid virtual bus option '{option}' in '{entry}': {error}";
                    return null;
                }
            }
            if (dataBitrate is not null && bitrate is null)
            {
                error = $"invalid virtual bus '{entry}': {DataBitrateOption}N needs {BitrateOption}N (the arbitration rate)";
                return null;
            }
            if (dataBitrate < bitrate)
            {
                error = $"invalid virtual bus '{entry}': dbitrate={dataBitrate} is below bitrate={bitrate}; the data phase is at least as fast";
                return null;
            }
            TimeSpan? overrunAfter = overrunMs is { } ms ? TimeSpan.FromMilliseconds(ms) : null;
            BusTiming? timing = bitrate is { } rate ? new BusTiming(rate, dataBitrate) : null;
            return VirtualBus(bus, overrunAfter, timing);
        }
        if (entry.Length > MaxInterfaceNameLength || entry.Any(c => c == '/' || c == ':' || c == ',' || char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            error = $"invalid CAN interface name '{entry}' (at most {MaxInterfaceNameLength} characters, no '/', ':', ',' or spaces)";
            return null;
        }
        return SocketCan(entry);
    }

    /// <summary>Null when <paramref name="option"/> is not <paramref name="prefix"/>N; else whether
    /// N is a whole number in range, given once (<paramref name="error"/> says why not).</summary>
    private static bool? TryOption(string option, string prefix, int min, int max, string unit, ref int? value, out string? error)
    {
        error = null;
        if (!option.StartsWith(prefix, StringComparison.Ordinal)) return null;
        if (value is not null)
        {
            error = $"{prefix}N is given twice";
            return false;
        }
        if (!int.TryParse(option.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int number)
            || number < min || number > max)
        {
            error = $"{prefix}N takes {unit} from {min} to {max}";
            return false;
        }
        value = number;
        return true;
    }

    private static bool Unknown(string option, out string? error)
    {
        error = $"the options are {OverrunOption}N, {BitrateOption}N and {DataBitrateOption}N";
        return false;
    }

    /// <summary>Entries naming one bus must agree on its bound and its timing (a bus is shared, its
    /// settings too; an entry that gives none takes the bus's): the error for the first that does not, or null.</summary>
    public static string? CheckConsistent(IReadOnlyList<DeviceSpec> specs)
    {
        var bounds = new Dictionary<string, TimeSpan>(StringComparer.Ordinal);
        var timings = new Dictionary<string, BusTiming>(StringComparer.Ordinal);
        foreach (var spec in specs)
        {
            if (spec.Kind != DeviceKind.VirtualBus) continue;
            if (spec.OverrunAfter is { } bound)
            {
                if (bounds.TryGetValue(spec.Name, out TimeSpan other) && other != bound)
                    return $"vbus:{spec.Name} is given overrun-ms={other.TotalMilliseconds} and overrun-ms={bound.TotalMilliseconds}; one bus has one bound";
                bounds[spec.Name] = bound;
            }
            if (spec.Timing is { } timing)
            {
                if (timings.TryGetValue(spec.Name, out BusTiming other) && other != timing)
                    return $"vbus:{spec.Name} is given {other} and {timing}; one bus has one timing";
                timings[spec.Name] = timing;
            }
        }
        return null;
    }

    /// <summary>Every entry of a bus with the settings some entry gives it, so that whichever device
    /// opens the bus first opens it as configured (call after <see cref="CheckConsistent"/>).</summary>
    public static List<DeviceSpec> ShareBusSettings(IReadOnlyList<DeviceSpec> specs)
    {
        var shared = new List<DeviceSpec>(specs.Count);
        foreach (var spec in specs)
        {
            if (spec.Kind != DeviceKind.VirtualBus)
            {
                shared.Add(spec);
                continue;
            }
            var same = specs.Where(s => s.Kind == DeviceKind.VirtualBus && s.Name == spec.Name).ToList();
            shared.Add(spec with
            {
                OverrunAfter = same.Select(s => s.OverrunAfter).FirstOrDefault(b => b is not null),
                Timing = same.Select(s => s.Timing).FirstOrDefault(t => t is not null),
            });
        }
        return shared;
    }

    /// <summary>The bus or interface, as logs name it (the bus's options are not part of its name).</summary>
    public override string ToString() => Kind == DeviceKind.VirtualBus ? VirtualBusPrefix + Name : Name;
}

public enum DeviceKind
{
    SocketCan,
    VirtualBus,
}
