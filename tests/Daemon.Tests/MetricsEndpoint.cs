using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>A published daemon serving <c>--metrics 127.0.0.1:0</c>, and a client for its endpoint.</summary>
internal sealed class MetricsEndpoint : IDisposable
{
    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(10) };

    private MetricsEndpoint(DaemonProcess daemon, int port)
    {
        Daemon = daemon;
        Port = port;
    }

    public DaemonProcess Daemon { get; }
    public int Port { get; }
    public string Url => $"http://127.0.0.1:{Port}/metrics";

    public static MetricsEndpoint Start(int guests)
    {
        var daemon = DaemonProcess.Start(guests, ["--metrics", "127.0.0.1:0"]);
        try
        {
            Match logged = daemon.Process.WaitForLog(@"metrics for Prometheus at http://127\.0\.0\.1:(\d+)/metrics$");
            return new MetricsEndpoint(daemon, int.Parse(logged.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        }
        catch
        {
            daemon.Dispose();
            throw;
        }
    }

    /// <summary>GET /metrics: must answer 200 with the text format's content type.</summary>
    public string Scrape()
    {
        using HttpResponseMessage response = s_http.GetAsync(Url).GetAwaiter().GetResult();
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        return response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
    }

    /// <summary>Sends raw bytes on a fresh connection and returns what comes back until the server closes.</summary>
    public string Raw(byte[] request)
    {
        using var client = new TcpClient("127.0.0.1", Port);
        client.ReceiveTimeout = 15_000;
        NetworkStream stream = client.GetStream();
        try
        {
            stream.Write(request);
            client.Client.Shutdown(SocketShutdown.Send);
        }
        catch (IOException)
        {
            // The server may answer and close before it has read everything (431).
        }
        var answer = new MemoryStream();
        try
        {
            stream.CopyTo(answer);
        }
        catch (IOException)
        {
        }
        return Encoding.ASCII.GetString(answer.ToArray());
    }

    public void Dispose() => Daemon.Dispose();
}
