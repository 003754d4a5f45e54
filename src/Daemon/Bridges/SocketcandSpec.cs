using System.Net;
using Microsoft.Extensions.Logging;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>
/// One <c>--bridge vbus:NAME=socketcand:[ADDRESS:]PORT</c>: a socketcand server (docs/spec/socketcand.md)
/// whose one bus is the virtual bus NAME. Without an address it listens on 127.0.0.1 only:
/// the protocol has no authentication, so reaching it from the network must be asked for.
/// Port 0 lets the kernel choose (the start-up log line names it).
/// </summary>
public sealed record SocketcandSpec(string Bus, IPEndPoint Listen) : BridgeSpec(Bus)
{
    public const string Protocol = "socketcand:";
    public const string Example = "vbus:default=socketcand:29536";

    /// <summary>The bridge, or null and a one-line reason.</summary>
    public static SocketcandSpec? Parse(string text, string bus, string endpoint, out string? error)
    {
        error = null;
        IPEndPoint? listen = BridgeEndpoint.Parse(endpoint, addressRequired: false, out string? reason);
        if (listen is null)
        {
            error = $"--bridge '{text}': {reason} (e.g. {Example})";
            return null;
        }
        if (listen.Address.Equals(IPAddress.None)) listen = new IPEndPoint(IPAddress.Loopback, listen.Port);
        return new SocketcandSpec(bus, listen);
    }

    public override IBridge Start(ILogger log, string threadName) => SocketcandBridge.Start(this, log, threadName);

    public override string ToString() => $"vbus:{Bus}=socketcand:{MetricsAddress.Format(Listen)}";
}
