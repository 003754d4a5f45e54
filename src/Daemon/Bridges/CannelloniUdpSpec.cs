using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>
/// One <c>--bridge vbus:NAME=cannelloni-udp:[BIND_ADDRESS:]BIND_PORT@PEER_ADDRESS:PEER_PORT[,timeout-us=N]</c>:
/// the virtual bus joined to one cannelloni peer over UDP. <c>timeout-us</c> is cannelloni's
/// buffer timeout (its <c>-t</c>, in microseconds): how long a part-filled datagram waits for
/// more frames; 0 sends what the bus has at once. Without a bind address the socket binds
/// to the loopback address of the peer's family, so nothing is reachable from the network unless
/// asked for. Only literal addresses: a host name would make the start depend on name resolution.
/// </summary>
public sealed record CannelloniUdpSpec(string Bus, IPEndPoint Bind, IPEndPoint Peer, TimeSpan BatchTimeout) : BridgeSpec(Bus)
{
    public const string Protocol = "cannelloni-udp:";
    public const string Example = "vbus:default=cannelloni-udp:20001@127.0.0.1:20000";
    public const string TimeoutOption = "timeout-us=";

    /// <summary>cannelloni's default buffer timeout (<c>-t</c>, 100 000 µs).</summary>
    public static readonly TimeSpan DefaultBatchTimeout = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest buffer timeout taken: beyond it a bridge would look stuck.</summary>
    public const int MaxTimeoutMicroseconds = 10_000_000;

    public CannelloniUdpSpec(string bus, IPEndPoint bind, IPEndPoint peer) : this(bus, bind, peer, DefaultBatchTimeout)
    {
    }

    /// <summary>The bridge, or null and a one-line reason.</summary>
    public static CannelloniUdpSpec? Parse(string text, string bus, string endpoints, out string? error)
    {
        error = null;
        TimeSpan batchTimeout = DefaultBatchTimeout;
        int comma = endpoints.IndexOf(',');
        if (comma >= 0)
        {
            if (ParseTimeout(text, endpoints[(comma + 1)..], out error) is not { } timeout) return null;
            batchTimeout = timeout;
            endpoints = endpoints[..comma];
        }
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
        return new CannelloniUdpSpec(bus, bind, peer, batchTimeout);
    }

    /// <summary>The options after the endpoints: only <c>timeout-us=N</c>, N from 0 to <see cref="MaxTimeoutMicroseconds"/>.</summary>
    private static TimeSpan? ParseTimeout(string text, string options, out string? error)
    {
        error = null;
        if (!options.StartsWith(TimeoutOption, StringComparison.Ordinal))
        {
            error = $"--bridge '{text}': unknown option '{options}' (cannelloni-udp takes only {TimeoutOption}N, the buffer timeout in µs)";
            return null;
        }
        string value = options[TimeoutOption.Length..];
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int microseconds) || microseconds > MaxTimeoutMicroseconds)
        {
            error = $"--bridge '{text}': {TimeoutOption}N wants microseconds from 0 to {MaxTimeoutMicroseconds}; got '{value}'";
            return null;
        }
        return TimeSpan.FromMicroseconds(microseconds);
    }

    public override IBridge Start(ILogger log, string threadName) => CannelloniUdpBridge.Start(this, log, threadName);

    public override string ToString() =>
        $"vbus:{Bus}=cannelloni-udp:{MetricsAddress.Format(Bind)}@{MetricsAddress.Format(Peer)}"
        + (BatchTimeout == DefaultBatchTimeout ? "" : string.Create(CultureInfo.InvariantCulture, $",{TimeoutOption}{(long)BatchTimeout.TotalMicroseconds}"));
}
