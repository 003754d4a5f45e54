using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using static VhostDeviceCan.Daemon.Tests.Traffic;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>The published daemon's metrics endpoint (--metrics): exact counters after real
/// traffic, text that promtool accepts, and an endpoint hostile requests do not break.</summary>
public sealed class MetricsTests
{

    /// <summary>Payload bytes of frames 0..count-1 of <paramref name="side"/> (remote frames carry none).</summary>
    internal static long PayloadBytes(int side, int count) =>
        Enumerable.Range(0, count).Select(i => Frame(side, i)).Where(f => !f.IsRemote).Sum(f => (long)f.Length);

    [Fact]
    public void After_traffic_every_counter_matches_the_frames_sent_and_received_exactly()
    {
        using var endpoint = MetricsEndpoint.Start(2);
        using var a = Started(endpoint.Daemon.Socket(0));
        using var b = Started(endpoint.Daemon.Socket(1));
        Traffic.Run(1000, [a, b], [a, b]);

        Exposition text = Exposition.Parse(endpoint.Scrape());
        for (int guest = 0; guest < 2; guest++)
        {
            string[] labels = [$"guest={guest}", $"socket={endpoint.Daemon.Socket(guest)}", "bus=vbus:default"];
            Assert.Equal(1000, text.Value("vhost_device_can_frames_total", [.. labels, "direction=tx"]));
            Assert.Equal(1000, text.Value("vhost_device_can_frames_total", [.. labels, "direction=rx"]));
            Assert.Equal(PayloadBytes(guest, 1000), text.Value("vhost_device_can_bytes_total", [.. labels, "direction=tx"]));
            Assert.Equal(PayloadBytes(1 - guest, 1000), text.Value("vhost_device_can_bytes_total", [.. labels, "direction=rx"]));
            Assert.Equal(1000, text.Value("vhost_device_can_tx_ack_latency_seconds_count", labels));
            Assert.Equal(1, text.Value("vhost_device_can_guest_connected", labels));
            Assert.Equal(1, text.Value("vhost_device_can_controller_state", [.. labels, "state=started"]));
            Assert.All(text.Samples.Where(s => s.Name is "vhost_device_can_tx_refused_total" or "vhost_device_can_dropped_frames_total" && s.Has(labels)),
                s => Assert.Equal(0, s.Value));
        }
        Assert.Equal(2, text.Value("vhost_device_can_bus_members", "bus=vbus:default"));
    }

    [Fact]
    public void Promtool_finds_no_problem_in_a_scrape()
    {
        using var endpoint = MetricsEndpoint.Start(2);
        using var a = Started(endpoint.Daemon.Socket(0));
        using var b = Started(endpoint.Daemon.Socket(1));
        Traffic.Run(100, [a, b], [a, b]);
        // A refused request and a frame the guest cannot take give non-zero series with reasons.
        Assert.Equal(1, a.SendRawAndWait([1, 2, 3]));

        string scraped = endpoint.Scrape();
        Assert.True(File.Exists("/usr/bin/promtool"), "promtool is missing: install Debian's prometheus package (.ci/run does)");
        ToolResult check = Tool.Run("promtool", ["check", "metrics"], standardInput: scraped);
        Assert.True(check.ExitCode == 0 && check.Stdout.Trim().Length == 0 && check.Stderr.Trim().Length == 0, check.ToString());
        Assert.Equal(1, Exposition.Parse(scraped).Value("vhost_device_can_tx_refused_total", "guest=0", "reason=too_short"));
    }

    [Fact]
    public void Other_paths_methods_and_garbage_get_an_error_answer_and_the_endpoint_keeps_serving()
    {
        using var endpoint = MetricsEndpoint.Start(1);
        Assert.StartsWith("HTTP/1.1 404 ", endpoint.Raw("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray()));
        Assert.StartsWith("HTTP/1.1 405 ", endpoint.Raw("POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray()));
        Assert.StartsWith("HTTP/1.1 400 ", endpoint.Raw("\u0001\u0002garbage\r\n\r\n"u8.ToArray()));
        Assert.StartsWith("HTTP/1.1 400 ", endpoint.Raw("GET /metrics SPDY/3\r\n\r\n"u8.ToArray()));
        Assert.StartsWith("HTTP/1.1 431 ", endpoint.Raw(Encoding.ASCII.GetBytes("GET /metrics HTTP/1.1\r\nX: " + new string('a', 20_000))));
        string head = endpoint.Raw("HEAD /metrics HTTP/1.0\r\n\r\n"u8.ToArray());
        Assert.StartsWith("HTTP/1.1 200 ", head);
        Assert.EndsWith("\r\n\r\n", head);
        Assert.Equal("", endpoint.Raw([]));

        // Connections that never send a request hold at most a few slots and only until they close.
        var idle = new List<TcpClient>();
        for (int i = 0; i < 20; i++) idle.Add(new TcpClient("127.0.0.1", endpoint.Port));
        foreach (var client in idle) client.Dispose();
        string? scraped = null;
        for (int attempt = 0; attempt < 50 && scraped is null; attempt++)
        {
            try
            {
                scraped = endpoint.Scrape();
            }
            catch (Exception e) when (e is HttpRequestException or IOException)
            {
                Thread.Sleep(100);
            }
        }
        Assert.NotNull(scraped);
        Assert.Contains("vhost_device_can_frames_total{", scraped);
        Assert.False(endpoint.Daemon.HasExited);
        Assert.DoesNotContain(endpoint.Daemon.Log.Snapshot(), line => line.Contains("ERROR", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(":0", @"http://127\.0\.0\.1:(\d+)/metrics$", "127.0.0.1")]
    [InlineData("[::1]:0", @"http://\[::1\]:(\d+)/metrics$", "[::1]")]
    public async Task An_address_without_a_host_is_loopback_and_port_0_is_logged_as_the_port_bound(string value, string logged, string host)
    {
        if (host == "[::1]" && !File.Exists("/proc/net/if_inet6")) Assert.Fail("this host has no IPv6 loopback");
        using var daemon = DaemonProcess.Start(1, ["--metrics", value]);
        string port = daemon.Process.WaitForLog(logged).Groups[1].Value;
        Assert.NotEqual("0", port);
        using var http = new HttpClient();
        string text = await http.GetStringAsync($"http://{host}:{port}/metrics");
        Assert.Equal(0, Exposition.Parse(text).Value("vhost_device_can_guest_connected", "guest=0"));
    }

    public static TheoryData<string, string> BadAddresses => new()
    {
        { "9410", "is not ADDRESS:PORT" },
        { "localhost:9410", "host names are not resolved" },
        { "127.0.0.1:65536", "the port must be" },
        { "127.0.0.1:", "the port must be" },
        { "127.0.0.1:-1", "the port must be" },
        { "[::1:9410", "an IPv6 address in brackets" },
        { "::1:9410", "not an IPv4 address" },
        { "1:9410", "not an IPv4 address" },
        { "[127.0.0.1]:9410", "not an IPv6 address" },
    };

    [Theory]
    [MemberData(nameof(BadAddresses))]
    public void A_bad_metrics_address_prints_one_line_and_exits_2(string value, string named)
    {
        string directory = DaemonProcess.NewDirectory();
        using var daemon = new ChildProcess("vhost-device-can", ["-s", Path.Combine(directory, "can.sock"), "--metrics", value]);
        Assert.Equal(2, daemon.WaitForExit());
        string line = Assert.Single(daemon.Stderr);
        Assert.StartsWith("vhost-device-can: error: --metrics", line);
        Assert.Contains(named, line);
        Assert.Empty(Directory.GetFileSystemEntries(directory));
        Directory.Delete(directory);
    }

    [Fact]
    public void A_metrics_port_in_use_prints_one_line_naming_it_and_exits_1_before_any_socket_appears()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        string directory = DaemonProcess.NewDirectory();
        using var daemon = new ChildProcess("vhost-device-can", ["-s", Path.Combine(directory, "can.sock"), "--metrics", $"127.0.0.1:{port}"]);
        Assert.Equal(1, daemon.WaitForExit());
        string line = Assert.Single(daemon.Stderr);
        Assert.StartsWith($"vhost-device-can: error: --metrics 127.0.0.1:{port}: ", line);
        Assert.Contains("in use", line);
        Assert.Empty(Directory.GetFileSystemEntries(directory));
        Directory.Delete(directory);
    }

    [Fact]
    public void Without_metrics_nothing_listens_on_a_TCP_port()
    {
        using var daemon = DaemonProcess.Start(1);
        string inodes = string.Join('\n', File.ReadAllLines("/proc/net/tcp").Concat(File.ReadAllLines("/proc/net/tcp6")));
        foreach (string link in Directory.GetFiles($"/proc/{daemon.Pid}/fd"))
        {
            string target = new FileInfo(link).LinkTarget ?? "";
            if (!target.StartsWith("socket:[", StringComparison.Ordinal)) continue;
            string inode = target["socket:[".Length..^1];
            Assert.DoesNotContain($" {inode} ", inodes);
        }
    }
}
