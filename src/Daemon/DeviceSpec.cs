namespace VhostDeviceCan.Daemon;

/// <summary>What one socket's device is attached to: a host SocketCAN interface or a virtual bus.</summary>
public readonly record struct DeviceSpec(DeviceKind Kind, string Name)
{
    public const string VirtualBusPrefix = "vbus:";
    public const string DefaultVirtualBus = "default";

    /// <summary>Linux IFNAMSIZ is 16 including the terminating zero.</summary>
    public const int MaxInterfaceNameLength = 15;

    public static DeviceSpec VirtualBus(string name) => new(DeviceKind.VirtualBus, name);
    public static DeviceSpec SocketCan(string name) => new(DeviceKind.SocketCan, name);

    /// <summary>Parses one --can-devices entry; null with <paramref name="error"/> set when invalid.</summary>
    public static DeviceSpec? Parse(string entry, out string? error)
    {
        error = null;
        if (entry.StartsWith(VirtualBusPrefix, StringComparison.Ordinal))
        {
            string bus = entry[VirtualBusPrefix.Length..];
            if (bus.Length == 0 || !bus.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                error = $"invalid virtual bus '{entry}': use vbus:NAME with letters, digits, '-', '_' or '.'";
                return null;
            }
            return VirtualBus(bus);
        }
        if (entry.Length > MaxInterfaceNameLength || entry.Any(c => c == '/' || c == ':' || char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            error = $"invalid CAN interface name '{entry}' (at most {MaxInterfaceNameLength} characters, no '/', ':' or spaces)";
            return null;
        }
        return SocketCan(entry);
    }

    public override string ToString() => Kind == DeviceKind.VirtualBus ? VirtualBusPrefix + Name : Name;
}

public enum DeviceKind
{
    SocketCan,
    VirtualBus,
}
