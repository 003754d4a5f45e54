using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace VhostDeviceCan.Daemon;

/// <summary>
/// The opt-in HTTP endpoint a Prometheus server scrapes (<c>--metrics ADDRESS:PORT</c>): answers
/// <c>GET /metrics</c> (and HEAD) with the text format and anything else with 404, 405 or 400,
/// one request per connection. It runs on the thread pool, never on a device's event loop, and
/// only reads the devices. Hostile clients cost it little: a request head is at most
/// <see cref="MaxRequestBytes"/>, a connection lives at most <see cref="RequestTimeout"/>, at most
/// <see cref="MaxConnections"/> are served at once (more are closed at once), and no request,
/// however malformed, ends more than its own connection.
/// </summary>
/// <remarks>A few lines of HTTP/1.1 on a socket instead of <c>HttpListener</c>: they bound what
/// a client can make the daemon hold, and they add nothing to the NativeAOT binary that a
/// scrape does not need.</remarks>
public sealed class MetricsHttpServer : IDisposable
{
    public const int MaxRequestBytes = 8192;
    public const int MaxConnections = 8;
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _listener;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stopping = new();
    private Func<byte[]>? _render;
    private Task? _acceptLoop;
    private int _active;
    private int _disposed;

    private MetricsHttpServer(Socket listener, ILogger log)
    {
        _listener = listener;
        _log = log;
    }

    /// <summary>The address and port it listens on (the chosen one for port 0).</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    public string Url => $"http://{MetricsAddress.Format(LocalEndPoint)}/metrics";

    /// <summary>Binds and listens, so a port in use stops the daemon before it serves any guest.</summary>
    /// <exception cref="SocketException">The address cannot be bound.</exception>
    public static MetricsHttpServer Listen(IPEndPoint endpoint, ILogger log)
    {
        var listener = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // A restarted daemon may bind while the old connections linger in TIME_WAIT.
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Bind(endpoint);
            listener.Listen(MaxConnections);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        return new MetricsHttpServer(listener, log);
    }

    /// <summary>Starts answering; <paramref name="render"/> produces the body of each scrape.</summary>
    public void Start(Func<byte[]> render)
    {
        _render = render;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                // Out of fds or a connection reset before it was taken: not this endpoint's end.
                _log.LogWarning("metrics: accept: {Error} ({Code})", e.Message, e.SocketErrorCode);
                await Task.Delay(100).ConfigureAwait(false);
                continue;
            }
            if (Interlocked.Increment(ref _active) > MaxConnections)
            {
                Interlocked.Decrement(ref _active);
                client.Dispose();
                continue;
            }
            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(Socket client)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(RequestTimeout);
            byte[] buffer = new byte[MaxRequestBytes];
            int length = 0, headEnd;
            while ((headEnd = HeadEnd(buffer.AsSpan(0, length))) < 0)
            {
                if (length == buffer.Length)
                {
                    await RespondAsync(client, 431, "Request Header Fields Too Large", "request head too long\n", timeout.Token).ConfigureAwait(false);
                    return;
                }
                int received = await client.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, timeout.Token).ConfigureAwait(false);
                if (received == 0) return;
                length += received;
            }
            await AnswerAsync(client, buffer.AsSpan(0, headEnd).ToArray(), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // A client that stalls, resets or disconnects ends only its own connection.
        }
        catch (Exception e)
        {
            _log.LogError("metrics: request failed: {Error}", e.Message);
        }
        finally
        {
            client.Dispose();
            Interlocked.Decrement(ref _active);
        }
    }

    /// <summary>Answers the request whose head (request line and header fields) is <paramref name="head"/>.</summary>
    private async Task AnswerAsync(Socket client, byte[] head, CancellationToken cancel)
    {
        int lineEnd = Array.IndexOf(head, (byte)'\r');
        string line = Encoding.ASCII.GetString(head, 0, lineEnd < 0 ? head.Length : lineEnd);
        string[] parts = line.Split(' ');
        if (parts.Length != 3 || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal) || parts[1].Length == 0)
        {
            await RespondAsync(client, 400, "Bad Request", "not an HTTP/1.x request line\n", cancel).ConfigureAwait(false);
            return;
        }
        string method = parts[0], path = parts[1].Split('?')[0];
        if (path != "/metrics")
        {
            await RespondAsync(client, 404, "Not Found", "metrics are at /metrics\n", cancel).ConfigureAwait(false);
            return;
        }
        if (method is not ("GET" or "HEAD"))
        {
            await RespondAsync(client, 405, "Method Not Allowed", "GET or HEAD only\n", cancel, "Allow: GET, HEAD\r\n").ConfigureAwait(false);
            return;
        }
        byte[] body = _render!();
        await SendAsync(client, 200, "OK", VhostDeviceCan.Device.Metrics.MetricsText.ContentType, body, method == "HEAD", "", cancel).ConfigureAwait(false);
    }

    private static Task RespondAsync(Socket client, int status, string reason, string text, CancellationToken cancel, string extraHeaders = "") =>
        SendAsync(client, status, reason, "text/plain; charset=utf-8", Encoding.UTF8.GetBytes(text), false, extraHeaders, cancel);

    private static async Task SendAsync(Socket client, int status, string reason, string contentType, byte[] body, bool headOnly,
        string extraHeaders, CancellationToken cancel)
    {
        string header = $"HTTP/1.1 {status} {reason}\r\nContent-Type: {contentType}\r\nContent-Length: {body.Length}\r\n"
            + $"{extraHeaders}Connection: close\r\n\r\n";
        await client.SendAsync(Encoding.ASCII.GetBytes(header), SocketFlags.None, cancel).ConfigureAwait(false);
        if (!headOnly) await client.SendAsync(body, SocketFlags.None, cancel).ConfigureAwait(false);
        // Closing with unread bytes would reset the connection and could destroy the answer in
        // flight: end our side, then give the client a moment to close first.
        client.Shutdown(SocketShutdown.Send);
        using var linger = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        linger.CancelAfter(TimeSpan.FromSeconds(1));
        byte[] drain = new byte[512];
        while (await client.ReceiveAsync(drain, SocketFlags.None, linger.Token).ConfigureAwait(false) > 0)
        {
        }
    }

    /// <summary>Length of the request head up to and including its empty line, or -1 while incomplete.</summary>
    internal static int HeadEnd(ReadOnlySpan<byte> received)
    {
        int end = received.IndexOf("\r\n\r\n"u8);
        return end < 0 ? -1 : end + 4;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stopping.Cancel();
        _listener.Dispose();
        try
        {
            _acceptLoop?.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
        }
    }
}
