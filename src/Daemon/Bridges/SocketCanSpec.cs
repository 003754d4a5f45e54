using Microsoft.Extensions.Logging;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>
/// One <c>--bridge vbus:NAME=socketcan:IFACE</c>: the virtual bus joined to a host SocketCAN
/// interface, so that the bus's guests, the host's programs (candump, cansend) and whatever the
/// interface is cabled to meet.
/// </summary>
/// <remarks>
/// Loops. Inside one daemon a frame never returns to where it came from: the bridge's socket does
/// not receive its own frames (CAN_RAW_RECV_OWN_MSGS off) and the bus never hands a member its
/// own. Two bridges of one bus to one interface would still circle every frame for ever (each
/// socket hears the other's writes and puts them back on the bus for the other), so the command
/// line refuses them (<see cref="CheckLoops"/>). Everything else a daemon can be told is loop-free:
/// two buses on one interface, one bus on two interfaces, a guest on the interface itself
/// (<c>-d can0</c>, whose own frames come back only as its confirmations), daemons sharing one
/// interface. What the daemon cannot see is a path outside it: two interfaces already joined by
/// cangw, a cable or another daemon must not both be bridged to one bus.
/// </remarks>
public sealed record SocketCanSpec(string Bus, string Interface) : BridgeSpec(Bus)
{
    public const string Protocol = "socketcan:";
    public const string Example = "vbus:default=socketcan:can0";

    /// <summary>The bridge, or null and a one-line reason.</summary>
    public static SocketCanSpec? Parse(string text, string bus, string interfaceName, out string? error)
    {
        error = null;
        if (interfaceName.Length == 0)
        {
            error = $"--bridge '{text}': no interface after 'socketcan:' (e.g. {Example})";
            return null;
        }
        if (DeviceSpec.Parse(interfaceName, out _) is not { Kind: DeviceKind.SocketCan })
        {
            error = $"--bridge '{text}': invalid CAN interface name '{interfaceName}' (at most {DeviceSpec.MaxInterfaceNameLength} characters, no '/', ':', ',' or spaces)";
            return null;
        }
        return new SocketCanSpec(bus, interfaceName);
    }

    /// <summary>Null, or the one-line reason why these bridges would make a loop inside the daemon.</summary>
    public static string? CheckLoops(IEnumerable<BridgeSpec> bridges)
    {
        var seen = new HashSet<SocketCanSpec>();
        foreach (var spec in bridges.OfType<SocketCanSpec>())
        {
            if (!seen.Add(spec))
                return $"--bridge {spec} is given twice: two bridges of one bus to one interface would send every frame round for ever";
        }
        return null;
    }

    public override IBridge Start(ILogger log, string threadName) => SocketCanBridge.Start(this, log, threadName);

    public override string ToString() => $"vbus:{Bus}=socketcan:{Interface}";
}
