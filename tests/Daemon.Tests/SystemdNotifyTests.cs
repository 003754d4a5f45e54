using System.Diagnostics;
using VhostDeviceCan.Guest;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>Type=notify: what the daemon tells $NOTIFY_SOCKET, read from a real datagram socket
/// as systemd reads it.</summary>
public sealed class SystemdNotifyTests
{
    [Fact]
    public void Ready_status_per_connection_and_stopping_reach_NOTIFY_SOCKET()
    {
        string directory = DaemonProcess.NewDirectory();
        using var systemd = new NotifySocket(directory);
        var pings = new List<string>();
        using (var daemon = DaemonProcess.Start(2, environment: new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = systemd.Path },
            directory: directory))
        {
            Assert.Equal("READY=1\nSTATUS=0 of 2 guests connected", systemd.NextState(pings));
            using (var guest = VirtioCanGuest.Connect(daemon.Socket(0)))
            {
                Assert.Equal("STATUS=1 of 2 guests connected: can.sock0", systemd.NextState(pings));
                using var second = VirtioCanGuest.Connect(daemon.Socket(1));
                Assert.Equal("STATUS=2 of 2 guests connected: can.sock0, can.sock1", systemd.NextState(pings));
            }
            // Disposing a guest closes its connection; the daemon notices and reports each leave.
            string[] leaves = [systemd.NextState(pings), systemd.NextState(pings)];
            Assert.Equal("STATUS=0 of 2 guests connected", leaves[1]);
            Assert.Matches("^STATUS=1 of 2 guests connected: can.sock[01]$", leaves[0]);

            daemon.Signal("TERM");
            Assert.Equal("STOPPING=1\nSTATUS=shutting down", systemd.NextState(pings));
            Assert.Equal(0, daemon.Process.WaitForExit());
        }
        // Nothing after STOPPING=1 (the sessions dropped at shutdown are not reported), and no
        // watchdog pings when systemd asked for none.
        Assert.Null(systemd.Receive(TimeSpan.FromMilliseconds(200)));
        Assert.Empty(pings);
    }

    [Fact]
    public void A_connection_that_never_speaks_is_no_guest_in_the_status()
    {
        string directory = DaemonProcess.NewDirectory();
        using var systemd = new NotifySocket(directory);
        using var daemon = DaemonProcess.Start(1, environment: new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = systemd.Path },
            directory: directory);
        Assert.Equal("READY=1\nSTATUS=0 of 1 guest connected", systemd.NextState());
        // Another back-end checking whether the socket is served connects and closes at once.
        using (var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream,
            System.Net.Sockets.ProtocolType.Unspecified))
            probe.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(daemon.Socket(0)));
        Assert.Null(systemd.Receive(TimeSpan.FromMilliseconds(500)));
        using var guest = VirtioCanGuest.Connect(daemon.Socket(0));
        Assert.Equal("STATUS=1 of 1 guest connected: can.sock0", systemd.NextState());
    }

    [Fact]
    public void Watchdog_pings_come_four_times_per_WATCHDOG_USEC()
    {
        string directory = DaemonProcess.NewDirectory();
        using var systemd = new NotifySocket(directory);
        using var daemon = DaemonProcess.Start(3, environment: new Dictionary<string, string?>
        {
            ["NOTIFY_SOCKET"] = systemd.Path,
            ["WATCHDOG_USEC"] = "400000",
        }, directory: directory);
        Assert.StartsWith("READY=1\n", systemd.NextState(), StringComparison.Ordinal);
        // Counted over a window of the test's own clock rather than timed one by one: a loaded
        // machine may hold this reader back while pings queue up, which would make them seem to
        // come faster than sent. What arrived by the window's end was sent by then, so at most one
        // per 100 ms; and systemd would restart the daemon after 400 ms without one, so at least
        // one per 400 ms.
        var window = TimeSpan.FromSeconds(2);
        var clock = Stopwatch.StartNew();
        int pings = 0;
        for (TimeSpan left = window; left > TimeSpan.Zero; left = window - clock.Elapsed)
            if (systemd.Receive(left) is { } message)
            {
                Assert.Equal("WATCHDOG=1", message);
                pings++;
            }
        Assert.InRange(pings, (int)(window / TimeSpan.FromMilliseconds(400)), (int)(clock.Elapsed / TimeSpan.FromMilliseconds(100)) + 1);
        Assert.Contains(daemon.Process.Stderr, l => l.Contains("watchdog: every event loop answers within 0.4 s", StringComparison.Ordinal));
    }

    [Fact]
    public void A_watchdog_meant_for_another_process_sends_no_pings()
    {
        string directory = DaemonProcess.NewDirectory();
        using var systemd = new NotifySocket(directory);
        using var daemon = DaemonProcess.Start(1, environment: new Dictionary<string, string?>
        {
            ["NOTIFY_SOCKET"] = systemd.Path,
            ["WATCHDOG_USEC"] = "200000",
            ["WATCHDOG_PID"] = "1",
        }, directory: directory);
        Assert.StartsWith("READY=1\n", systemd.NextState(), StringComparison.Ordinal);
        Assert.Null(systemd.Receive(TimeSpan.FromMilliseconds(600)));
    }
}
