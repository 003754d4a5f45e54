using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>Daemons started with bridges, free ports for them, and the SIGUSR2 report they are
/// asked for: what the tests of every bridge kind share.</summary>
internal static class BridgeDaemons
{
    /// <summary>A UDP port nothing is bound to right now (bound and released at once).</summary>
    internal static int FreePort() => FreePort(SocketType.Dgram, ProtocolType.Udp);

    /// <summary>A TCP port nothing listens on right now (bound and released at once).</summary>
    internal static int FreeTcpPort() => FreePort(SocketType.Stream, ProtocolType.Tcp);

    private static int FreePort(SocketType type, ProtocolType protocol)
    {
        using var probe = new Socket(AddressFamily.InterNetwork, type, protocol);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    /// <summary>A cannelloni UDP bridge of vbus:default bound to <paramref name="bind"/>, its peer on <paramref name="peer"/>.</summary>
    internal static string Bridge(int bind, int peer) =>
        string.Create(CultureInfo.InvariantCulture, $"vbus:default=cannelloni-udp:{bind}@127.0.0.1:{peer}");

    /// <summary>A daemon with <paramref name="guests"/> devices and cannelloni UDP bridges, once each listens.</summary>
    internal static DaemonProcess Bridged(int guests, params string[] bridges)
    {
        var daemon = DaemonProcess.Start(guests, bridges.SelectMany(b => new[] { "--bridge", b }));
        foreach (string bridge in bridges) daemon.Process.WaitForLog("bridge .*: listening on 127.0.0.1:");
        return daemon;
    }

    /// <summary>A daemon with <paramref name="guests"/> devices and one bridge, once its start-up
    /// line matches <paramref name="started"/>.</summary>
    internal static DaemonProcess WithBridge(int guests, string bridge, string started)
    {
        var daemon = DaemonProcess.Start(guests, ["--bridge", bridge]);
        daemon.Process.WaitForLog("bridge .*: " + started);
        return daemon;
    }

    /// <summary>A daemon with <paramref name="guests"/> devices on vbus:default, served over socketcand; its port.</summary>
    internal static DaemonProcess Served(int guests, out int port)
    {
        port = FreeTcpPort();
        return WithBridge(guests, string.Create(CultureInfo.InvariantCulture, $"vbus:default=socketcand:{port}"), "socketcand listening on 127.0.0.1:");
    }

    /// <summary>Asks for the SIGUSR2 report until a bridge line matches <paramref name="pattern"/>.</summary>
    internal static void ReportShows(DaemonProcess daemon, string pattern)
    {
        for (int attempt = 0; attempt < 20; attempt++)
        {
            daemon.Signal("USR2");
            try
            {
                daemon.Process.WaitForLog("SIGUSR2: bridge .*" + pattern, TimeSpan.FromMilliseconds(500));
                return;
            }
            catch (TimeoutException)
            {
            }
        }
        Assert.Fail($"no report line matching {pattern}:\n{daemon.Output}");
    }
}
