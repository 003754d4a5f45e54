using System.Globalization;

namespace VhostDeviceCan.Daemon;

/// <summary>What one socket's device is attached to: a host SocketCAN interface or a virtual bus,
/// with the bus's overrun bound when the entry sets one (<c>vbus:NAME,overrun-ms=N</c>).</summary>
public readonly record struct DeviceSpec(DeviceKind Kind, string Name, TimeSpan? OverrunAfter = null)
{
    public const string VirtualBusPrefix = "vbus:";
    public const string DefaultVirtualBus = "default";
    public const string OverrunOption = "overrun-ms=";

    /// <summary>Up to a minute: a longer stall of every other guest is never what one wants.</summary>
    public const int MaxOverrunMilliseconds = 60_000;

    /// <summary>Linux IFNAMSIZ is 16 including the terminating zero.</summary>
    public const int MaxInterfaceNameLength = 15;

    public static DeviceSpec VirtualBus(string name, TimeSpan? overrunAfter = null) => new(DeviceKind.VirtualBus, name, overrunAfter);
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
            TimeSpan? overrunAfter = null;
            foreach (string option in parts.Skip(1))
            {
                if (!option.StartsWith(OverrunOption, StringComparison.Ordinal) || overrunAfter is not null
                    || !int.TryParse(option.AsSpan(OverrunOption.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int ms)
                    || ms < 1 || ms > MaxOverrunMilliseconds)
                {
                    error = $"invalid virtual bus option '{option}' in '{entry}': the one option is {OverrunOption}N, "
                        + $"N milliseconds from 1 to {MaxOverrunMilliseconds}";
                    return null;
                }
                overrunAfter = TimeSpan.FromMilliseconds(ms);
            }
            return VirtualBus(bus, overrunAfter);
        }
        if (entry.Length > MaxInterfaceNameLength || entry.Any(c => c == '/' || c == ':' || c == ',' || char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            error = $"invalid CAN interface name '{entry}' (at most {MaxInterfaceNameLength} characters, no '/', ':', ',' or spaces)";
            return null;
        }
        return SocketCan(entry);
    }

    /// <summary>Entries naming one bus must agree on its bound (a bus is shared, its bound too):
    /// the error for the first that does not, or null.</summary>
    public static string? CheckConsistent(IReadOnlyList<DeviceSpec> specs)
    {
        var bounds = new Dictionary<string, TimeSpan>(StringComparer.Ordinal);
        foreach (var spec in specs)
        {
            if (spec.Kind != DeviceKind.VirtualBus || spec.OverrunAfter is not { } bound) continue;
            if (bounds.TryGetValue(spec.Name, out TimeSpan other) && other != bound)
                return $"vbus:{spec.Name} is given overrun-ms={other.TotalMilliseconds} and overrun-ms={bound.TotalMilliseconds}; one bus has one bound";
            bounds[spec.Name] = bound;
        }
        return null;
    }

    /// <summary>The bus or interface, as logs name it (the bus's options are not part of its name).</summary>
    public override string ToString() => Kind == DeviceKind.VirtualBus ? VirtualBusPrefix + Name : Name;
}

public enum DeviceKind
{
    SocketCan,
    VirtualBus,
}
