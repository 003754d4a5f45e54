using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>
/// One <c>--bridge vbus:NAME=cannelloni-tcp-server:[BIND_ADDRESS:]PORT</c> (listens for one
/// cannelloni peer at a time; loopback unless an address is given) or
/// <c>--bridge vbus:NAME=cannelloni-tcp-client:PEER_ADDRESS:PORT</c> (connects, and again
/// whenever the connection is lost). Literal addresses only, as for UDP.
/// </summary>
public sealed record CannelloniTcpSpec(string Bus, bool IsServer, IPEndPoint Endpoint) : BridgeSpec(Bus)
{
    public const string ServerProtocol = "cannelloni-tcp-server:";
    public const string ClientProtocol = "cannelloni-tcp-client:";
    public const string ServerExample = "vbus:default=cannelloni-tcp-server:20000";
    public const string ClientExample = "vbus:default=cannelloni-tcp-client:192.0.2.1:20000";

    /// <summary>The bridge, or null and a one-line reason.</summary>
    public static CannelloniTcpSpec? Parse(string text, string bus, bool server, string endpoint, out string? error)
    {
        error = null;
        IPEndPoint? parsed = BridgeEndpoint.Parse(endpoint, addressRequired: !server, out string? reason);
        if (parsed is null)
        {
            error = $"--bridge '{text}': {reason} (e.g. {(server ? ServerExample : ClientExample)})";
            return null;
        }
        if (!server && parsed.Port == 0)
        {
            error = $"--bridge '{text}': port 0 is not a port one can connect to";
            return null;
        }
        if (parsed.Address.Equals(IPAddress.None)) parsed = new IPEndPoint(IPAddress.Loopback, parsed.Port);
        return new CannelloniTcpSpec(bus, server, parsed);
    }

    public override IBridge Start(ILogger log, string threadName) => CannelloniTcpBridge.Start(this, log, threadName);

    public override string ToString() =>
        $"vbus:{Bus}={(IsServer ? ServerProtocol : ClientProtocol)}{MetricsAddress.Format(Endpoint)}";
}
