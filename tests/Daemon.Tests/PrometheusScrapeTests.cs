using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text.Json;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using static VhostDeviceCan.Daemon.Tests.Traffic;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>A real Prometheus server (Debian's prometheus package) scrapes the daemon's endpoint
/// every second; its query API must see the target up and the frame counter move with traffic.</summary>
public sealed class PrometheusScrapeTests
{
    private const string Prometheus = "/usr/bin/prometheus";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(90);
    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(10) };

    [Fact]
    public void A_Prometheus_server_scrapes_the_endpoint_and_sees_the_frame_counter_increase()
    {
        Assert.True(File.Exists(Prometheus), "prometheus is missing: install Debian's prometheus package (.ci/run does)");
        using var endpoint = MetricsEndpoint.Start(2);
        using var a = VirtioCanGuest.Connect(endpoint.Daemon.Socket(0));
        using var b = VirtioCanGuest.Connect(endpoint.Daemon.Socket(1));
        Assert.True(a.Start(Patience) && b.Start(Patience));
        Traffic.Run(100, [a], [b]);

        string directory = Directory.CreateTempSubdirectory("vdc-prom-").FullName;
        int port = FreePort();
        File.WriteAllText(Path.Combine(directory, "prometheus.yml"), $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: vhost-device-can
                static_configs:
                  - targets: ['127.0.0.1:{endpoint.Port}']
            """);
        using var server = new ChildProcess(Prometheus, [
            "--config.file=" + Path.Combine(directory, "prometheus.yml"),
            "--storage.tsdb.path=" + Path.Combine(directory, "data"),
            $"--web.listen-address=127.0.0.1:{port}",
        ]);
        try
        {
            string api = $"http://127.0.0.1:{port}/api/v1/query?query=";
            const string Sent = "vhost_device_can_frames_total{job=\"vhost-device-can\",guest=\"0\",direction=\"tx\"}";
            Assert.True(Poll(api + Uri.EscapeDataString("up{job=\"vhost-device-can\"}"), 1, server), $"target never up\n{server.Output}");
            Assert.True(Poll(api + Uri.EscapeDataString(Sent), 100, server), $"the counter never showed 100\n{server.Output}");

            Traffic.Run(250, [a], [b]);
            Assert.True(Poll(api + Uri.EscapeDataString(Sent), 350, server), $"the counter never moved to 350\n{server.Output}");
            Assert.True(Poll(api + Uri.EscapeDataString("vhost_device_can_frames_total{guest=\"1\",direction=\"rx\"}"), 350, server));
        }
        finally
        {
            server.Terminate(TimeSpan.FromSeconds(10));
            try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Asks the query API until its single result has <paramref name="expected"/> as value.</summary>
    private static bool Poll(string url, double expected, ChildProcess server)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < Wait)
        {
            Assert.False(server.HasExited, $"prometheus exited\n{server.Output}");
            try
            {
                string json = s_http.GetStringAsync(url).GetAwaiter().GetResult();
                using var document = JsonDocument.Parse(json);
                JsonElement result = document.RootElement.GetProperty("data").GetProperty("result");
                if (result.GetArrayLength() == 1)
                {
                    string value = result[0].GetProperty("value")[1].GetString()!;
                    if (double.Parse(value, CultureInfo.InvariantCulture) == expected) return true;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            Thread.Sleep(250);
        }
        return false;
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
