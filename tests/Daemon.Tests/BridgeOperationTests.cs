using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using VhostDeviceCan.Can;
using static VhostDeviceCan.Daemon.Tests.BridgeDaemons;
using static VhostDeviceCan.Daemon.Tests.Traffic;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>What an operator sees of a bridge: its counters among the metrics, its peer in the
/// control status, and the buffer timeout's effect on the datagrams sent.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class BridgeOperationTests
{
    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(10) };

    private static string Scrape(DaemonProcess daemon)
    {
        Match logged = daemon.Process.WaitForLog(@"metrics for Prometheus at (http://127\.0\.0\.1:\d+/metrics)$");
        return s_http.GetStringAsync(logged.Groups[1].Value).GetAwaiter().GetResult();
    }

    private static long Sample(string scraped, string series)
    {
        Match m = Regex.Match(scraped, "^" + Regex.Escape(series) + @" (\d+)$", RegexOptions.Multiline);
        Assert.True(m.Success, $"no sample {series} in:\n{scraped}");
        return long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [Fact]
    public void Bridge_counters_are_metrics_promtool_accepts_and_status_lists_the_bridge_with_its_peer()
    {
        int portA = FreePort(), portB = FreePort();
        string bridgeA = Bridge(portA, portB);
        using var daemonA = DaemonProcess.Start(1, ["--bridge", bridgeA, "--metrics", "127.0.0.1:0"]);
        using var daemonB = Bridged(1, Bridge(portB, portA));
        string name = $"vbus:default=cannelloni-udp:127.0.0.1:{portA}@127.0.0.1:{portB}";
        string labels = $"bridge=\"{name}\",bus=\"vbus:default\",kind=\"cannelloni-udp\"";

        string before = Scrape(daemonA);
        Assert.Equal(0, Sample(before, $"vhost_device_can_bridge_peer_up{{{labels}}}"));
        Assert.Equal(0, Sample(before, $"vhost_device_can_bridge_frames_total{{{labels},direction=\"out\"}}"));

        using var a = Started(daemonA.Socket(0));
        using var b = Started(daemonB.Socket(0));
        Traffic.Run(100, [a, b], [a, b]);
        daemonA.Process.WaitForLog("bridge .*: peer up");

        string after = Scrape(daemonA);
        Assert.Equal(1, Sample(after, $"vhost_device_can_bridge_peer_up{{{labels}}}"));
        Assert.Equal(100, Sample(after, $"vhost_device_can_bridge_frames_total{{{labels},direction=\"out\"}}"));
        Assert.Equal(100, Sample(after, $"vhost_device_can_bridge_frames_total{{{labels},direction=\"in\"}}"));
        Assert.InRange(Sample(after, $"vhost_device_can_bridge_datagrams_total{{{labels},direction=\"out\"}}"), 1, 100);
        Assert.Equal(0, Sample(after, $"vhost_device_can_bridge_dropped_datagrams_total{{{labels},reason=\"foreign\"}}"));
        Assert.Contains("# TYPE vhost_device_can_bridge_dropped_frames_total counter", after);
        // The guests' families are still there, before the bridges'.
        Assert.True(after.IndexOf("vhost_device_can_frames_total{", StringComparison.Ordinal) < after.IndexOf("vhost_device_can_bridge_", StringComparison.Ordinal));
        ToolResult check = Tool.Run("promtool", ["check", "metrics"], standardInput: after);
        Assert.True(check.ExitCode == 0, check.ToString());

        // A stranger's datagram moves the foreign counter.
        using (var stranger = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
            stranger.SendTo(Hex.Parse("02 00 00 00 01 00 00 01 11 01 EE"), new IPEndPoint(IPAddress.Loopback, portA));
        daemonA.Process.WaitForLog("which is not the peer: dropped");
        Assert.Equal(1, Sample(Scrape(daemonA), $"vhost_device_can_bridge_dropped_datagrams_total{{{labels},reason=\"foreign\"}}"));

        JsonElement status = ControlTests.Json(daemonA, "status");
        JsonElement bridge = Assert.Single(status.GetProperty("bridges").EnumerateArray());
        Assert.Equal(name, bridge.GetProperty("name").GetString());
        Assert.Equal("cannelloni-udp", bridge.GetProperty("kind").GetString());
        Assert.Equal($"127.0.0.1:{portB}", bridge.GetProperty("peer").GetString());
        Assert.True(bridge.GetProperty("peer_up").GetBoolean());
        Assert.Equal(100, bridge.GetProperty("counters").GetProperty("frames_out").GetInt64());
        Assert.Equal(1, bridge.GetProperty("counters").GetProperty("dropped_datagrams_foreign").GetInt64());

        ToolResult text = ControlTests.Ctl("-C", daemonA.Control, "status");
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains($"bridge {name}: cannelloni-udp peer 127.0.0.1:{portB} up", text.Stdout);
        Assert.Contains("frames out 100", text.Stdout);

        // The peer gone: down in both.
        daemonB.Signal("KILL");
        daemonA.Process.WaitForLog("bridge .*: peer down", TimeSpan.FromSeconds(15));
        Assert.Equal(0, Sample(Scrape(daemonA), $"vhost_device_can_bridge_peer_up{{{labels}}}"));
        Assert.False(Assert.Single(ControlTests.Json(daemonA, "status").GetProperty("bridges").EnumerateArray()).GetProperty("peer_up").GetBoolean());
    }

    /// <summary>Frames one every 2 ms to a raw peer: with timeout-us=0 each leaves in a datagram of
    /// its own (a loaded host may let two meet in the bridge's inbox); with a 300 ms timeout they share a few.</summary>
    [Theory]
    [InlineData(0, 20, 40)]
    [InlineData(300_000, 1, 10)]
    public void The_buffer_timeout_trades_datagrams_for_latency(int timeoutMicroseconds, int fewest, int most)
    {
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        peer.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int peerPort = ((IPEndPoint)peer.LocalEndPoint!).Port;
        string spec = Bridge(FreePort(), peerPort) + string.Create(CultureInfo.InvariantCulture, $",timeout-us={timeoutMicroseconds}");
        using var daemon = Bridged(1, spec);
        using var guest = Started(daemon.Socket(0));

        for (int i = 0; i < 40; i++)
        {
            Assert.Equal(0, guest.SendAndWait(CanFrame.Classic(0x10, false, [(byte)i])));
            Thread.Sleep(2);
        }
        int datagrams = 0, frames = 0;
        var buffer = new byte[2048];
        peer.ReceiveTimeout = 1000;
        while (frames < 40)
        {
            int length = peer.Receive(buffer);
            Assert.Equal(Can.Cannelloni.CannelloniError.None, Can.Cannelloni.CannelloniFormat.ReadHeader(buffer.AsSpan(0, length), out _, out int count));
            datagrams++;
            frames += count;
        }
        Assert.Equal(40, frames);
        Assert.InRange(datagrams, fewest, most);
    }

    /// <summary>A datagram as full as the frame just added allows leaves at once, long before a 5 s timeout.</summary>
    [Fact]
    public void A_full_datagram_is_sent_without_waiting_for_the_timeout()
    {
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        peer.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        string spec = Bridge(FreePort(), ((IPEndPoint)peer.LocalEndPoint!).Port) + ",timeout-us=5000000";
        using var daemon = Bridged(1, spec);
        using var guest = Started(daemon.Socket(0));
        // 64-byte FD frames take 70 bytes each: after the 5-byte header, 20 fill 1472 bytes as far as such frames can.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < 20; i++) Assert.Equal(0, guest.SendAndWait(CanFrame.Fd(0x20, false, new byte[64])));
        var buffer = new byte[2048];
        peer.ReceiveTimeout = 4000;
        int length = peer.Receive(buffer);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4));
        Assert.Equal(Can.Cannelloni.CannelloniError.None, Can.Cannelloni.CannelloniFormat.ReadHeader(buffer.AsSpan(0, length), out _, out int count));
        Assert.Equal(20, count);
    }

    [Fact]
    public void Every_kind_of_bridge_reports_its_peer_and_counters_in_one_exposition_promtool_accepts()
    {
        int udp = FreePort(), udpPeer = FreePort(), socketcand = FreePort(), tcp = FreePort();
        string cannelloniUdp = Bridge(udp, udpPeer);
        string socketcandBridge = $"vbus:default=socketcand:{socketcand}";
        string tcpServer = $"vbus:default=cannelloni-tcp-server:{tcp}";
        using var daemon = DaemonProcess.Start(1, ["--bridge", cannelloniUdp, "--bridge", socketcandBridge, "--bridge", tcpServer, "--metrics", "127.0.0.1:0"]);
        using var guest = Started(daemon.Socket(0));
        string Labels(string name, string kind) => $"bridge=\"{name}\",bus=\"vbus:default\",kind=\"{kind}\"";
        string socketcandLabels = Labels($"vbus:default=socketcand:127.0.0.1:{socketcand}", "socketcand");
        string tcpLabels = Labels($"vbus:default=cannelloni-tcp-server:127.0.0.1:{tcp}", "cannelloni-tcp-server");

        string before = Scrape(daemon);
        Assert.Equal(0, Sample(before, $"vhost_device_can_bridge_peer_up{{{socketcandLabels}}}"));
        Assert.Equal(0, Sample(before, $"vhost_device_can_bridge_sessions_total{{{socketcandLabels},event=\"up\"}}"));

        using (var client = SocketcandClient.Raw(socketcand))
        {
            client.Write("< send 123 2 11 22 >");
            Assert.Equal(CanFrame.Classic(0x123, false, [0x11, 0x22]), ReceiveOne(guest));
            string during = Scrape(daemon);
            Assert.Equal(1, Sample(during, $"vhost_device_can_bridge_peer_up{{{socketcandLabels}}}"));
            Assert.Equal(1, Sample(during, $"vhost_device_can_bridge_sessions_total{{{socketcandLabels},event=\"up\"}}"));
            Assert.Equal(1, Sample(during, $"vhost_device_can_bridge_frames_total{{{socketcandLabels},direction=\"in\"}}"));
            // No TCP peer connected: the server's peer is down and the frame from the bus had nowhere to go.
            Assert.Equal(0, Sample(during, $"vhost_device_can_bridge_peer_up{{{tcpLabels}}}"));
            Assert.Equal(1, Sample(during, $"vhost_device_can_bridge_dropped_frames_total{{{tcpLabels},reason=\"no_peer\"}}"));
            ToolResult check = Tool.Run("promtool", ["check", "metrics"], standardInput: during);
            Assert.True(check.ExitCode == 0, check.ToString());
        }

        JsonElement status = ControlTests.Json(daemon, "status");
        string[] kinds = [.. status.GetProperty("bridges").EnumerateArray().Select(b => b.GetProperty("kind").GetString()!)];
        Assert.Equal(["cannelloni-udp", "socketcand", "cannelloni-tcp-server"], kinds);
    }
}
