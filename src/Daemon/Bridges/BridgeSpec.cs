using Microsoft.Extensions.Logging;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>
/// One <c>--bridge vbus:NAME=KIND:ARGUMENTS</c>: a virtual bus joined to something outside the
/// daemon. Each kind parses its own arguments and starts its own <see cref="IBridge"/>.
/// </summary>
public abstract record BridgeSpec(string Bus)
{
    public const string Usage = "vbus:NAME=KIND:ARGUMENTS with KIND cannelloni-udp or socketcand";

    /// <summary>The bridge, or null and a one-line reason.</summary>
    public static BridgeSpec? Parse(string text, out string? error)
    {
        error = null;
        int equals = text.IndexOf('=');
        DeviceSpec? bus = equals > 0 ? DeviceSpec.Parse(text[..equals], out _) : null;
        int colon = text.IndexOf(':', equals + 1);
        if (bus is not { Kind: DeviceKind.VirtualBus, OverrunAfter: null } || colon < 0)
        {
            error = $"--bridge '{text}' is not {Usage} (e.g. {CannelloniUdpSpec.Example})";
            return null;
        }
        string kind = text[(equals + 1)..(colon + 1)];
        string arguments = text[(colon + 1)..];
        switch (kind)
        {
            case CannelloniUdpSpec.Protocol:
                return CannelloniUdpSpec.Parse(text, bus.Value.Name, arguments, out error);
            case SocketcandSpec.Protocol:
                return SocketcandSpec.Parse(text, bus.Value.Name, arguments, out error);
            default:
                error = $"--bridge '{text}': unknown kind '{kind[..^1]}' ({Usage})";
                return null;
        }
    }

    /// <summary>Opens the bridge's sockets, joins the bus and starts its thread. Throws
    /// <see cref="System.Net.Sockets.SocketException"/> or <see cref="Interop.SyscallException"/>
    /// when the bridge cannot be opened.</summary>
    public abstract IBridge Start(ILogger log, string threadName);
}

/// <summary>A running bridge: its thread stops and its sockets close on dispose.</summary>
public interface IBridge : IDisposable
{
    BridgeSpec Spec { get; }

    /// <summary>Where it listens or what it opened, as the start-up log line says it.</summary>
    string Endpoint { get; }
}
