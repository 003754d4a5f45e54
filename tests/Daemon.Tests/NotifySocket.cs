using System.Net.Sockets;
using System.Text;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>What systemd's $NOTIFY_SOCKET is: a Unix datagram socket bound by the test, each
/// datagram one sd_notify message (newline-separated KEY=VALUE lines).</summary>
internal sealed class NotifySocket : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    private readonly byte[] _buffer = new byte[4096];

    public NotifySocket(string directory)
    {
        Path = System.IO.Path.Combine(directory, "notify");
        _socket.Bind(new UnixDomainSocketEndPoint(Path));
    }

    public string Path { get; }

    /// <summary>The next message, or null when none comes within <paramref name="timeout"/>.</summary>
    public string? Receive(TimeSpan timeout)
    {
        if (!_socket.Poll(timeout, SelectMode.SelectRead)) return null;
        int length = _socket.Receive(_buffer);
        return Encoding.UTF8.GetString(_buffer, 0, length);
    }

    /// <summary>The next message that is not a watchdog ping; fails after 10 s without one.</summary>
    public string NextState(List<string>? pings = null)
    {
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            string? message = Receive(deadline - DateTime.UtcNow);
            if (message == "WATCHDOG=1") pings?.Add(message);
            else if (message is not null) return message;
        }
        throw new TimeoutException("no notification within 10 s");
    }

    public void Dispose() => _socket.Dispose();
}
