using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>The addresses in a <c>--bridge</c> option: literal only, so a start never waits on name resolution.</summary>
public static class BridgeEndpoint
{
    /// <summary>"ADDRESS:PORT", "[V6]:PORT" or (when the address is optional) "PORT"; an omitted
    /// address is returned as <see cref="IPAddress.None"/>.</summary>
    public static IPEndPoint? Parse(string text, bool addressRequired, out string? reason)
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

}
