using System.Globalization;
using System.Text.RegularExpressions;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using VhostDeviceCan.VirtioCanWire;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>
/// The daemon started the way systemd starts it: systemd-socket-activate binds and listens on
/// named sockets, waits for the first connection and only then executes the daemon with
/// LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES; the daemon must serve exactly those sockets.
/// </summary>
public sealed class SocketActivationTests
{
    private const string Activator = "/usr/bin/systemd-socket-activate";
    private static readonly VirtioCanGuestOptions Patient = new() { ConnectTimeout = TimeSpan.FromSeconds(30) };

    [Fact]
    public void Activated_sockets_are_served_in_fd_name_order_and_logged_by_path()
    {
        string directory = DaemonProcess.NewDirectory();
        try
        {
            // Passed as fd 3 (named zeta) and fd 4 (named alpha): guest 0 is alpha's socket.
            string zeta = Path.Combine(directory, "zeta.sock");
            string alpha = Path.Combine(directory, "alpha.sock");
            using var activator = new ChildProcess(Activator,
                ["-l", zeta, "-l", alpha, "--fdname=zeta:alpha", RepositoryPaths.Binary("vhost-device-can"),
                 "--tx-filter", "0=123", "--can-devices", "vbus:lab vbus:lab"]);
            activator.WaitForLog($"Listening on {Regex.Escape(alpha)} as 4", TimeSpan.FromSeconds(30));

            // The first connection starts the daemon; it then takes both sockets over.
            using var sender = VirtioCanGuest.Connect(alpha, Patient);
            activator.WaitForLog($"listening on {Regex.Escape(alpha)} for a guest on vbus:lab", TimeSpan.FromSeconds(30));
            activator.WaitForLog($"listening on {Regex.Escape(zeta)} for a guest on vbus:lab");
            // --tx-filter 0= applies to alpha's socket, the first by name.
            activator.WaitForLog($"{Regex.Escape(alpha)}: the guest may send only IDs 123");
            Assert.DoesNotContain(activator.Stderr, l => l.Contains("listening on fd", StringComparison.Ordinal));

            using var receiver = VirtioCanGuest.Connect(zeta, Patient);
            Assert.True(sender.Start() && receiver.Start(), "START refused");
            Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, sender.SendAndWait(CanFrame.Classic(0x123, false, [1, 2, 3])));
            var heard = new CanFrame[4];
            Assert.Equal(1, receiver.Receive(heard, TimeSpan.FromSeconds(10)));
            Assert.Equal(0x123u, heard[0].Id);
            Assert.Equal([1, 2, 3], heard[0].Data.ToArray());
            // The filter holds for guest 0 only: the other guest is not guest 0.
            Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_NOT_OK, sender.SendAndWait(CanFrame.Classic(0x124, false, [4])));
            Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, receiver.SendAndWait(CanFrame.Classic(0x124, false, [5])));
            Assert.Equal(1, sender.Receive(heard, TimeSpan.FromSeconds(10)));
            Assert.Equal(0x124u, heard[0].Id);

            activator.Signal("TERM");
            Assert.Equal(0, activator.WaitForExit(TimeSpan.FromSeconds(20)));
            // The sockets belong to whoever created them: the daemon leaves the files.
            Assert.True(File.Exists(alpha) && File.Exists(zeta), "the daemon removed activated socket files");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void Sockets_of_one_name_keep_the_order_they_were_passed_in()
    {
        string directory = DaemonProcess.NewDirectory();
        try
        {
            string[] paths = [.. Enumerable.Range(0, 3).Select(i => Path.Combine(directory, $"lab.sock{(2 - i).ToString(CultureInfo.InvariantCulture)}"))];
            using var activator = new ChildProcess(Activator,
                ["-l", paths[0], "-l", paths[1], "-l", paths[2], "--fdname=lab:lab:lab", RepositoryPaths.Binary("vhost-device-can"),
                 "--can-devices", "vbus:first vbus:second vbus:third"]);
            activator.WaitForLog($"Listening on {Regex.Escape(paths[2])} as 5", TimeSpan.FromSeconds(30));
            using var guest = VirtioCanGuest.Connect(paths[1], Patient);
            activator.WaitForLog($"listening on {Regex.Escape(paths[0])} for a guest on vbus:first", TimeSpan.FromSeconds(30));
            activator.WaitForLog($"listening on {Regex.Escape(paths[1])} for a guest on vbus:second");
            activator.WaitForLog($"listening on {Regex.Escape(paths[2])} for a guest on vbus:third");
            Assert.True(guest.Start());
            activator.WaitForLog($"{Regex.Escape(Path.GetFileName(paths[1]))}: front-end connected");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void A_passed_fd_that_is_not_a_listening_socket_is_named_and_refused()
    {
        // As a service manager would: LISTEN_PID is the pid that executes the daemon (exec keeps it);
        // fd 3 is /dev/null instead of a socket.
        using var daemon = new ChildProcess("/bin/sh",
            ["-c", "export LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=guest; exec \"$0\" 3</dev/null", RepositoryPaths.Binary("vhost-device-can")]);
        Assert.Equal(2, daemon.WaitForExit());
        Assert.Contains(daemon.Stderr, l => l.Contains("socket activation: socket 'guest': fd 3 is not a socket", StringComparison.Ordinal));
    }

    [Fact]
    public void Variables_meant_for_another_process_are_ignored()
    {
        // LISTEN_PID names a parent: the daemon behaves as if nothing were passed.
        using var daemon = new ChildProcess("vhost-device-can", [], new Dictionary<string, string?>
        {
            ["LISTEN_PID"] = "1",
            ["LISTEN_FDS"] = "1",
        });
        Assert.Equal(2, daemon.WaitForExit());
        Assert.Contains(daemon.Stderr, l => l.Contains("--socket-path (or --socket-fd, or sockets passed by systemd) is required", StringComparison.Ordinal));
    }
}
