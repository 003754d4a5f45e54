using Microsoft.Extensions.Logging;
using VhostDeviceCan.Device.Metrics;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>
/// One <c>--bridge vbus:NAME=KIND:ARGUMENTS</c>: a virtual bus joined to something outside the
/// daemon. Each kind parses its own arguments and starts its own <see cref="IBridge"/>.
/// </summary>
public abstract record BridgeSpec(string Bus)
{
    public const string Usage = "vbus:NAME=KIND:ARGUMENTS with KIND cannelloni-udp, cannelloni-tcp-server, cannelloni-tcp-client, socketcand or socketcan";

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
            case CannelloniTcpSpec.ServerProtocol or CannelloniTcpSpec.ClientProtocol:
                return CannelloniTcpSpec.Parse(text, bus.Value.Name, kind == CannelloniTcpSpec.ServerProtocol, arguments, out error);
            case SocketCanSpec.Protocol:
                return SocketCanSpec.Parse(text, bus.Value.Name, arguments, out error);
            case SocketcandSpec.Protocol:
                return SocketcandSpec.Parse(text, bus.Value.Name, arguments, out error);
            default:
                error = $"--bridge '{text}': unknown kind '{kind[..^1]}' ({Usage})";
                return null;
        }
    }

    /// <summary>Opens the bridge's sockets, joins the bus and starts its thread. Throws
    /// <see cref="System.Net.Sockets.SocketException"/>, <see cref="Interop.SyscallException"/> or
    /// <see cref="IOException"/> when the bridge cannot be opened.</summary>
    public abstract IBridge Start(ILogger log, string threadName);

    /// <summary>The KIND of <c>vbus:NAME=KIND:ARGUMENTS</c>, read back from the spec as written.</summary>
    public string Kind
    {
        get
        {
            string text = ToString();
            int equals = text.IndexOf('=');
            int colon = equals < 0 ? -1 : text.IndexOf(':', equals + 1);
            return colon < 0 ? "?" : text[(equals + 1)..colon];
        }
    }
}

/// <summary>A running bridge: its thread stops and its sockets close on dispose. What it reports
/// to the metrics and to status (<see cref="IBridgeReport"/>) has defaults: a kind that has no
/// peer state or counters yet is still listed, by its spec.</summary>
public interface IBridge : IDisposable, IBridgeReport
{
    BridgeSpec Spec { get; }

    /// <summary>Where it listens or what it opened, as the start-up log line says it.</summary>
    string Endpoint { get; }

    string IBridgeReport.Name => Spec.ToString();
    string IBridgeReport.Bus => "vbus:" + Spec.Bus;
    string IBridgeReport.Kind => Spec.Kind;
    string IBridgeReport.Peer => Endpoint;
    bool IBridgeReport.PeerUp => false;
    void IBridgeReport.ReadCounters(List<BridgeCounter> counters)
    {
    }
}
