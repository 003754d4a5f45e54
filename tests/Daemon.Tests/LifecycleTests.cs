using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using VhostDeviceCan.Interop;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using VhostDeviceCan.VirtioCanWire;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>Signals, socket files and log levels of the published daemon.</summary>
public sealed class LifecycleTests
{
    [Theory]
    [InlineData("TERM")]
    [InlineData("INT")]
    [InlineData("HUP")]
    [InlineData("QUIT")]
    public void Signal_exits_0_and_removes_the_socket_files(string signal)
    {
        using var daemon = DaemonProcess.Start(2);
        using (var guest = VirtioCanGuest.Connect(daemon.Socket(0)))
        {
            Assert.True(guest.Start());
            // With a guest connected, the daemon still shuts down cleanly.
            daemon.Process.Signal(signal);
            Assert.Equal(0, daemon.Process.WaitForExit());
        }
        Assert.False(File.Exists(daemon.Socket(0)), "socket 0 left behind");
        Assert.False(File.Exists(daemon.Socket(1)), "socket 1 left behind");
        // Logs go to stderr; a clean shutdown logs nothing worse than INFO.
        Assert.DoesNotContain(daemon.Process.Stderr, l => l.Contains(" WARN ", StringComparison.Ordinal)
            || l.Contains(" ERROR ", StringComparison.Ordinal) || l.Contains(" FATAL ", StringComparison.Ordinal));
        Assert.Contains(daemon.Process.Stderr, l => l.Contains($"SIG{signal}: shutting down", StringComparison.Ordinal));
    }

    [Fact]
    public void Closing_the_terminal_it_runs_in_ends_the_daemon_and_removes_its_sockets()
    {
        string directory = DaemonProcess.NewDirectory();
        string prefix = Path.Combine(directory, "can.sock");
        // script(1) runs the daemon on a pseudo-terminal of its own, as the session leader with its
        // logs on that terminal. Killing script closes the terminal: the kernel hangs it up, sends
        // the daemon SIGHUP, and every later write to its stderr fails with EIO.
        var start = new ProcessStartInfo("script", ["-qfc", $"exec {RepositoryPaths.Binary("vhost-device-can")} -s {prefix} -c 2", "/dev/null"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        using var terminal = Process.Start(start)!;
        terminal.OutputDataReceived += (_, _) => { };
        terminal.BeginOutputReadLine();
        string[] sockets = [prefix + "0", prefix + "1"];
        Assert.True(WaitUntil(() => sockets.All(File.Exists), TimeSpan.FromSeconds(30)), "the daemon never listened");
        int daemon = ChildrenOf(terminal.Id).Single();

        terminal.Kill();
        terminal.WaitForExit();
        Assert.True(WaitUntil(() => !IsRunning(daemon), TimeSpan.FromSeconds(20)), "the daemon outlived its terminal");
        Assert.False(sockets.Any(File.Exists), "socket files left behind");
        Directory.Delete(directory, recursive: true);
    }

    private static bool WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) return false;
            Thread.Sleep(20);
        }
        return true;
    }

    /// <summary>/proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so parse after its ')'.</summary>
    private static string[]? StatFields(string pidDirectory)
    {
        try
        {
            string stat = File.ReadAllText(Path.Combine(pidDirectory, "stat"));
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static IEnumerable<int> ChildrenOf(int parent) =>
        Directory.GetDirectories("/proc")
            .Where(d => int.TryParse(Path.GetFileName(d), out _) && StatFields(d) is [_, var ppid, ..] && ppid == parent.ToString(CultureInfo.InvariantCulture))
            .Select(d => int.Parse(Path.GetFileName(d), CultureInfo.InvariantCulture));

    /// <summary>Still there and not a zombie waiting for a parent that is gone to reap it.</summary>
    private static bool IsRunning(int pid) => StatFields($"/proc/{pid}") is [var state, ..] && state != "Z";

    [Fact]
    public void Inherited_listening_sockets_are_served_and_their_files_left_to_their_owner()
    {
        string directory = DaemonProcess.NewDirectory();
        string[] paths = [Path.Combine(directory, "a.sock"), Path.Combine(directory, "b.sock")];
        ChildProcess daemon;
        // As systemd does: bind and listen, then hand the fds over without close-on-exec.
        using (var first = UnixSocket.Listen(paths[0]))
        using (var second = UnixSocket.Listen(paths[1]))
        {
            foreach (var socket in new[] { first, second })
                Assert.Equal(0, Libc.fcntl(socket.Fd, Libc.F_SETFD, 0));
            daemon = new ChildProcess("vhost-device-can",
                ["--socket-fd", first.Fd.ToString(CultureInfo.InvariantCulture), "--socket-fd", second.Fd.ToString(CultureInfo.InvariantCulture)]);
            // Named by the path each socket is bound to, not by its fd number.
            daemon.WaitForLog($"listening on {Regex.Escape(paths[0])} for a guest on vbus:default");
            daemon.WaitForLog($"listening on {Regex.Escape(paths[1])} for a guest on vbus:default");
        }
        using (daemon)
        {
            // Only the daemon holds the listening sockets now.
            using var a = VirtioCanGuest.Connect(paths[0]);
            using var b = VirtioCanGuest.Connect(paths[1]);
            Assert.True(a.Start() && b.Start(), "START refused");
            Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(CanFrame.Classic(0x5F0, false, [7])));
            var heard = new CanFrame[2];
            Assert.Equal(1, b.Receive(heard, TimeSpan.FromSeconds(5)));
            Assert.Equal(0x5F0u, heard[0].Id);

            daemon.Signal("TERM");
            Assert.Equal(0, daemon.WaitForExit());
        }
        Assert.True(File.Exists(paths[0]) && File.Exists(paths[1]), "the daemon removed socket files it did not create");
    }

    [Fact]
    public void A_stale_socket_file_from_a_killed_daemon_is_replaced()
    {
        string directory = DaemonProcess.NewDirectory();
        string socket;
        using (var killed = DaemonProcess.Start(1, directory: directory))
        {
            socket = killed.Socket(0);
            killed.Process.Signal("KILL");
            killed.Process.WaitForExit();
            Assert.True(File.Exists(socket), "SIGKILL leaves the socket file");
            using var next = DaemonProcess.Start(1, directory: directory);
            using var guest = VirtioCanGuest.Connect(socket);
            Assert.True(guest.Start());
            Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, guest.SendAndWait(CanFrame.Classic(0x1, false, [1])));
        }
    }

    [Theory]
    [InlineData("regular file")]
    [InlineData("directory")]
    [InlineData("symbolic link")]
    public void Anything_but_a_socket_file_at_the_socket_path_is_left_untouched(string kind)
    {
        string directory = DaemonProcess.NewDirectory();
        string prefix = Path.Combine(directory, "notes");
        string path = prefix + "0", target = Path.Combine(directory, "target");
        File.WriteAllText(target, "data\n");
        switch (kind)
        {
            case "regular file": File.WriteAllText(path, "data\n"); break;
            case "directory": Directory.CreateDirectory(path); break;
            default: File.CreateSymbolicLink(path, target); break;
        }

        using var daemon = new ChildProcess("vhost-device-can", ["-s", prefix]);
        Assert.NotEqual(0, daemon.WaitForExit());
        string[] lines = daemon.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.Contains(path, StringComparison.Ordinal) && l.Contains($"is a {kind}", StringComparison.Ordinal));
        Assert.Equal(kind, UnixSocket.DescribePath(path));
        if (kind == "regular file") Assert.Equal("data\n", File.ReadAllText(path));
        Assert.Equal("data\n", File.ReadAllText(target));
    }

    [Fact]
    public void A_socket_served_by_a_running_daemon_is_not_taken_over()
    {
        using var first = DaemonProcess.Start(1);
        using var second = new ChildProcess("vhost-device-can", ["-s", first.Prefix]);
        Assert.NotEqual(0, second.WaitForExit());
        Assert.Contains(second.Output.Split('\n'), l => l.Contains("in use", StringComparison.Ordinal));
        using var guest = VirtioCanGuest.Connect(first.Socket(0));
        Assert.True(guest.Start());
    }

    [Fact]
    public void SIGUSR2_logs_every_device_state_and_counters()
    {
        using var daemon = DaemonProcess.Start(3);
        using var a = VirtioCanGuest.Connect(daemon.Socket(0));
        using var b = VirtioCanGuest.Connect(daemon.Socket(1));
        Assert.True(a.Start() && b.Start());
        for (int i = 0; i < 3; i++)
            Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(CanFrame.Classic(0x10, false, [(byte)i])));
        var heard = new CanFrame[3];
        int n = 0;
        while (n < 3 && b.Receive(heard.AsSpan(n), TimeSpan.FromSeconds(5)) is var got and > 0) n += got;
        Assert.Equal(3, n);

        daemon.Process.Signal("USR2");
        daemon.Process.WaitForLog(@"SIGUSR2: \S+can\.sock0 on vbus:default: guest connected, controller started; tx 3 \(");
        daemon.Process.WaitForLog(@"SIGUSR2: \S+can\.sock1 on vbus:default: guest connected, controller started; tx 0 .*, rx 3 \(");
        daemon.Process.WaitForLog(@"SIGUSR2: \S+can\.sock2 on vbus:default: no guest, controller stopped; tx 0 ");
        Assert.False(daemon.Process.HasExited, "SIGUSR2 ended the daemon");
    }

    [Fact]
    public void Trace_level_logs_every_frame_each_way()
    {
        using var daemon = DaemonProcess.Start(2, ["-l", "trace"]);
        using var a = VirtioCanGuest.Connect(daemon.Socket(0));
        using var b = VirtioCanGuest.Connect(daemon.Socket(1));
        Assert.True(a.Start() && b.Start());
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(CanFrame.Classic(0x123, false, [0xDE, 0xAD])));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(CanFrame.Fd(0x1ABCDEF0, true, new byte[12])));
        daemon.Process.WaitForLog(@"TRACE can\.sock0: TX 123#DEAD$");
        daemon.Process.WaitForLog(@"TRACE can\.sock1: RX 123#DEAD$");
        daemon.Process.WaitForLog(@"TRACE can\.sock1: RX 1ABCDEF0##0000000000000000000000000$");
    }

    [Theory]
    [InlineData("debug", true)]
    [InlineData("vhost_device_can=debug", true)]
    [InlineData("info", false)]
    [InlineData(null, false)]
    public void RUST_LOG_sets_the_log_level(string? rustLog, bool debug)
    {
        using var daemon = DaemonProcess.Start(1, environment: new Dictionary<string, string?> { ["RUST_LOG"] = rustLog });
        using (var guest = VirtioCanGuest.Connect(daemon.Socket(0)))
        {
            Assert.True(guest.Start());
            // A refused request is logged at debug level with its reason.
            Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_NOT_OK, guest.SendRawAndWait(new byte[3]));
        }
        daemon.Process.WaitForLog(@"front-end disconnected");
        Assert.Equal(debug, daemon.Process.Stderr.Any(l => l.Contains(" DEBUG ", StringComparison.Ordinal) && l.Contains("TooShort", StringComparison.Ordinal)));
    }

    [Fact]
    public void Log_level_option_wins_over_RUST_LOG()
    {
        string directory = DaemonProcess.NewDirectory();
        string prefix = Path.Combine(directory, "can.sock");
        // At warn the daemon does not log "listening"; the guest's connect retries until it does.
        using var daemon = new ChildProcess("vhost-device-can", ["-s", prefix, "--log-level", "warn"],
            new Dictionary<string, string?> { ["RUST_LOG"] = "debug" });
        using (var guest = VirtioCanGuest.Connect(prefix + "0"))
        {
            Assert.True(guest.Start());
            Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_NOT_OK, guest.SendRawAndWait(new byte[3]));
        }
        daemon.Signal("TERM");
        Assert.Equal(0, daemon.WaitForExit());
        Assert.DoesNotContain(daemon.Stderr, l => l.Contains(" INFO ", StringComparison.Ordinal) || l.Contains(" DEBUG ", StringComparison.Ordinal));
        Directory.Delete(directory, recursive: true);
    }
}
