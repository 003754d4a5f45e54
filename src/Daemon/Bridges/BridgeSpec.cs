using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>
/// One <c>--bridge vbus:NAME=cannelloni-udp:[BIND_ADDRESS:]BIND_PORT@PEER_ADDRESS:PEER_PORT</c>:
/// the virtual bus joined to one cannelloni peer over UDP. Without a bind address the socket binds
/// to the loopback address of the peer's family, so nothing is reachable from the network unless
/// asked for. Only literal addresses: a host name would make the start depend on name resolution.
/// </summary>
public sealed record BridgeSpec(string Bus, IPEndPoint Bind, IPEndPoint Peer)
{
    public const string Protocol = "cannelloni-udp:";
    public const string Example = "vbus:default=cannelloni-udp:20001@127.0.0.1:20000";

    /// <summary>The bridge, or null and a one-line reason.</summary>
    public static BridgeSpec? Parse(string text, out string? error)
    {
        error = null;
        int equals = text.IndexOf('=');
        DeviceSpec? bus = equals > 0 ? DeviceSpec.Parse(text[..equals], out _) : null;
        if (bus is not { Kind: DeviceKind.VirtualBus, OverrunAfter: null } || !text.AsSpan(equals + 1).StartsWith(Protocol, StringComparison.Ordinal))
        {
            error = $"--bridge '{text}' is not vbus:NAME=cannelloni-udp:[BIND_ADDRESS:]BIND_PORT@PEER_ADDRESS:PEER_PORT (e.g. {Example})";
            return null;
        }
        string endpoints = text[(equals + 1 + Protocol.Length)..];
        int at = endpoints.LastIndexOf('@');
        if (at < 0)
        {
            error = $"--bridge '{text}': no '@PEER_ADDRESS:PEER_PORT' after the bind port (e.g. {Example})";
            return null;
        }
        IPEndPoint? peer = ParseEndpoint(endpoints[(at + 1)..], addressRequired: true, out string? reason);
        if (peer is null || peer.Port == 0)
        {
            error = $"--bridge '{text}': peer {reason ?? "port 0 is not a port one can send to"}";
            return null;
        }
        IPEndPoint? bind = ParseEndpoint(endpoints[..at], addressRequired: false, out reason);
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
        return new BridgeSpec(bus.Value.Name, bind, peer);
    }

    /// <summary>"ADDRESS:PORT", "[V6]:PORT" or (when the address is optional) "PORT"; an omitted
    /// address is returned as <see cref="IPAddress.None"/>.</summary>
    private static IPEndPoint? ParseEndpoint(string text, bool addressRequired, out string? reason)
    {
        reason = null;
        int colon = text.LastIndexOf(':');
        if (colon < 0 && addressRequired)
        {
            reason = $"'{text}' is not ADDRESS:PORT";
            return null;
        }
        string host = colon < 0 ? "" : text[..colon];
        if (!int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > IPEndPoint.MaxPort)
        {
            reason = $"'{text}': the port must be a number from 0 to {IPEndPoint.MaxPort}";
            return null;
        }
        IPAddress? address;
        if (colon < 0)
            address = IPAddress.None;
        else if (host.StartsWith('[') && host.EndsWith(']'))
        {
            if (!IPAddress.TryParse(host[1..^1], out address) || address.AddressFamily != AddressFamily.InterNetworkV6)
            {
                reason = $"'{host}' is not an IPv6 address in brackets";
                return null;
            }
        }
        else if (!IPAddress.TryParse(host, out address) || address.AddressFamily != AddressFamily.InterNetwork || host.Count(c => c == '.') != 3)
        {
            reason = $"'{host}' is not an IPv4 address (a dotted quad) or an IPv6 address in brackets; host names are not resolved";
            return null;
        }
        return new IPEndPoint(address, port);
    }

    public override string ToString() =>
        $"vbus:{Bus}=cannelloni-udp:{MetricsAddress.Format(Bind)}@{MetricsAddress.Format(Peer)}";
}
