using System.Net.Sockets;
using System.Text;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>Type=notify: the daemon tells $NOTIFY_SOCKET it is ready once every socket listens.</summary>
public sealed class SystemdReadinessTests
{
    [Fact]
    public void Ready_is_sent_to_NOTIFY_SOCKET_once_every_socket_listens()
    {
        string directory = DaemonProcess.NewDirectory();
        string notifyPath = Path.Combine(directory, "notify");
        using var systemd = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        systemd.Bind(new UnixDomainSocketEndPoint(notifyPath));
        systemd.ReceiveTimeout = 10_000;

        using var daemon = DaemonProcess.Start(2, environment: new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = notifyPath },
            directory: directory);

        var buffer = new byte[256];
        int length = systemd.Receive(buffer);
        Assert.Equal("READY=1", Encoding.UTF8.GetString(buffer, 0, length));
        Assert.False(daemon.HasExited);
    }
}
