using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>
/// One <c>--bridge vbus:NAME=cannelloni-udp:[BIND_ADDRESS:]BIND_PORT@PEER_ADDRESS:PEER_PORT</c>:
/// the virtual bus joined to one cannelloni peer over UDP. Without a bind address the socket binds
/// to the loopback address of the peer's family, so nothing is reachable from the network unless
/// asked for. Only literal addresses: a host name would make the start depend on name resolution.
/// </summary>
public sealed record CannelloniUdpSpec(string Bus, IPEndPoint Bind, IPEndPoint Peer) : BridgeSpec(Bus)
{
    public const string Protocol = "cannelloni-udp:";
    public const string Example = "vbus:default=cannelloni-udp:20001@127.0.0.1:20000";

    /// <summary>The bridge, or null and a one-line reason.</summary>
    public static CannelloniUdpSpec? Parse(string text, string bus, string endpoints, out string? error)
    {
        error = null;
        int at = endpoints.LastIndexOf('@');
        if (at < 0)
        {
            error = $"--bridge '{text}': no '@PEER_ADDRESS:PEER_PORT' after the bind port (e.g. {Example})";
            return null;
        }
        IPEndPoint? peer = BridgeEndpoint.Parse(endpoints[(at + 1)..], addressRequired: true, out string? reason);
        if (peer is null || peer.Port == 0)
        {
            error = $"--bridge '{text}': peer {reason ?? "port 0 is not a port one can send to"}";
            return null;
        }
        IPEndPoint? bind = BridgeEndpoint.Parse(endpoints[..at], addressRequired: false, out reason);
        if (bind is null)
        {
            error = $"--bridge '{text}': bind {reason}";
            return null;
        }
        if (bind.Address.Equals(IPAddress.None))
            bind = new IPEndPoint(peer.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback, bind.Port);
        if (bind.AddressFamily != peer.AddressFamily)
        {
            error = $"--bridge '{text}': the bind address and the peer address must both be IPv4 or both IPv6";
            return null;
        }
        return new CannelloniUdpSpec(bus, bind, peer);
    }

    public override IBridge Start(ILogger log, string threadName) => CannelloniUdpBridge.Start(this, log, threadName);

    public override string ToString() =>
        $"vbus:{Bus}=cannelloni-udp:{MetricsAddress.Format(Bind)}@{MetricsAddress.Format(Peer)}";
}
