using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace VhostDeviceCan.Daemon;

/// <summary>
/// The value of <c>--metrics ADDRESS:PORT</c>: an IPv4 address, an IPv6 address in brackets, or
/// nothing before the colon for the loopback address. Only literal addresses: a host name would
/// make the daemon's start depend on name resolution. Every other address, such as
/// <c>0.0.0.0</c> or <c>[::]</c>, exposes the metrics beyond this host, so it must be written out.
/// </summary>
public static class MetricsAddress
{
    public const string Example = "127.0.0.1:9410, [::1]:9410 or :9410";

    /// <summary>The endpoint to listen on, or null and a one-line reason.</summary>
    public static IPEndPoint? Parse(string text, out string? error)
    {
        error = null;
        int colon = text.LastIndexOf(':');
        if (colon < 0)
        {
            error = $"--metrics '{text}' is not ADDRESS:PORT (e.g. {Example})";
            return null;
        }
        string host = text[..colon];
        string portText = text[(colon + 1)..];
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > IPEndPoint.MaxPort)
        {
            error = $"--metrics '{text}': the port must be a number from 0 to {IPEndPoint.MaxPort} (0 picks a free one)";
            return null;
        }
        IPAddress? address;
        if (host.Length == 0)
        {
            address = IPAddress.Loopback;
        }
        else if (host.StartsWith('[') && host.EndsWith(']'))
        {
            if (!IPAddress.TryParse(host[1..^1], out address) || address.AddressFamily != AddressFamily.InterNetworkV6)
            {
                error = $"--metrics '{text}': '{host}' is not an IPv6 address in brackets";
                return null;
            }
        }
        else if (!IPAddress.TryParse(host, out address) || address.AddressFamily != AddressFamily.InterNetwork
            || host.Count(c => c == '.') != 3)
        {
            // IPAddress also reads "1" or "0x7f.1" as IPv4; only the dotted quad is meant here.
            error = $"--metrics '{text}': '{host}' is not an IPv4 address (a dotted quad) or an IPv6 address in brackets; host names are not resolved";
            return null;
        }
        return new IPEndPoint(address, port);
    }

    /// <summary>How a user writes <paramref name="endpoint"/> in a URL: <c>127.0.0.1:9410</c>, <c>[::1]:9410</c>.</summary>
    public static string Format(IPEndPoint endpoint) =>
        endpoint.AddressFamily == AddressFamily.InterNetworkV6
            ? $"[{endpoint.Address}]:{endpoint.Port.ToString(CultureInfo.InvariantCulture)}"
            : $"{endpoint.Address}:{endpoint.Port.ToString(CultureInfo.InvariantCulture)}";
}
