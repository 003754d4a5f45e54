using System.Diagnostics;
using System.Text.RegularExpressions;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>vhost-can-sim as can-utils users expect it: one-line errors, distinct exit statuses,
/// candump's timestamps and log format, cansend's syntax.</summary>
public sealed class SimulatorCliTests
{
    private const int Refused = 1, Usage = 2, Unreachable = 3, ConnectionLost = 4;

    private static ChildProcess Sim(params string[] arguments) => new("vhost-can-sim", arguments);

    /// <summary>Exits with <paramref name="status"/> and says why on exactly one line, with no .NET type or stack trace.</summary>
    private static string AssertOneLineFailure(ChildProcess sim, int status, TimeSpan? within = null)
    {
        Assert.Equal(status, sim.WaitForExit(within));
        string line = Assert.Single(sim.Stderr, l => !l.Contains("listening on", StringComparison.Ordinal));
        Assert.StartsWith("vhost-can-sim: ", line);
        Assert.DoesNotContain("System.", line);
        Assert.DoesNotContain("Exception", line);
        return line;
    }

    [Theory]
    [InlineData("-n", "abc", "--count")]
    [InlineData("-n", "-1", "--count")]
    [InlineData("-T", "-1", "--timeout")]
    [InlineData("-T", "soon", "--timeout")]
    [InlineData("-t", "x", "--timestamp")]
    public void Bad_dump_option_values_are_usage_errors_in_plain_words(string option, string value, string named)
    {
        using var sim = Sim("dump", "/nonexistent-vdc/can.sock0", option, value);
        string line = AssertOneLineFailure(sim, Usage);
        Assert.Contains(named, line);
        Assert.Contains($"'{value}'", line);
    }

    [Theory]
    [InlineData("--samples", "0")]
    [InlineData("--frames", "0")]
    [InlineData("--queue-size", "3")]
    [InlineData("--queue-size", "2048")]
    [InlineData("--daemon-pid", "abc")]
    public void Bad_bench_option_values_are_usage_errors(string option, string value)
    {
        using var sim = Sim("bench", "/nonexistent-vdc/a", "/nonexistent-vdc/b", option, value);
        Assert.Contains(option, AssertOneLineFailure(sim, Usage));
    }

    [Theory]
    [InlineData("1")]
    [InlineData("2,65")]
    [InlineData("2,x")]
    public void Bench_mesh_counts_outside_2_to_64_are_usage_errors(string list)
    {
        using var sim = Sim("bench", "--mesh", list);
        Assert.Contains("--mesh", AssertOneLineFailure(sim, Usage));
    }

    [Fact]
    public void Bench_mesh_with_sockets_is_a_usage_error()
    {
        using var sim = Sim("bench", "/nonexistent-vdc/a", "/nonexistent-vdc/b", "--mesh", "2");
        Assert.Contains("no sockets", AssertOneLineFailure(sim, Usage));
    }

    [Fact]
    public void Bench_mesh_starts_a_daemon_per_count_and_prints_one_row_each()
    {
        using var sim = Sim("bench", "--mesh", "2,3", "--frames", "3000");
        Assert.Equal(0, sim.WaitForExit(TimeSpan.FromMinutes(2)));
        // guests, delivered frames/s, daemon CPU per frame, lost, disordered: 2 guests deliver
        // each of the 3,000 frames once, 3 guests each of 3,000 twice; nothing is lost.
        Assert.Single(sim.Stdout, l => Regex.IsMatch(l, @"^ +2 +[\d,]+ +[\d.]+ µs +0 +0$"));
        Assert.Single(sim.Stdout, l => Regex.IsMatch(l, @"^ +3 +[\d,]+ +[\d.]+ µs +0 +0$"));
        Assert.Single(sim.Stdout, l => l.Contains("3,000 of 3,000", StringComparison.Ordinal));
        Assert.Single(sim.Stdout, l => l.Contains("6,000 of 6,000", StringComparison.Ordinal));
    }

    [Fact]
    public void Bench_on_one_socket_twice_is_a_usage_error()
    {
        using var daemon = DaemonProcess.Start(1);
        using var sim = Sim("bench", daemon.Socket(0), daemon.Socket(0));
        Assert.Contains("two different sockets", AssertOneLineFailure(sim, Usage));
    }

    [Fact]
    public void A_missing_socket_is_unreachable()
    {
        using var daemon = DaemonProcess.Start(2);
        using var sim = Sim("bench", daemon.Folder + "/missing0", daemon.Socket(1));
        Assert.Equal($"vhost-can-sim: error: connect({daemon.Folder}/missing0): No such file or directory (ENOENT); "
            + "no such socket (is the daemon running?)", AssertOneLineFailure(sim, Unreachable));
    }

    [Fact]
    public void A_file_that_is_not_a_socket_is_named_so()
    {
        string directory = DaemonProcess.NewDirectory();
        string file = Path.Combine(directory, "plain");
        File.WriteAllText(file, "not a socket");
        using var sim = Sim("send", file, "123#01");
        Assert.Equal($"vhost-can-sim: error: connect({file}): Socket operation on non-socket (ENOTSOCK); the path is not a socket",
            AssertOneLineFailure(sim, Unreachable));
        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public void A_socket_nobody_listens_on_is_unreachable()
    {
        // A daemon killed outright leaves its socket file behind.
        using var daemon = DaemonProcess.Start(1);
        daemon.Process.Signal("KILL");
        daemon.Process.WaitForExit();
        string path = daemon.Socket(0);
        Assert.True(File.Exists(path));
        using var sim = Sim("info", path);
        Assert.Equal($"vhost-can-sim: error: connect({path}): Connection refused (ECONNREFUSED); "
            + "nothing listens on this socket (left behind by a daemon that has exited?)", AssertOneLineFailure(sim, Unreachable));
    }

    [Fact]
    public void A_second_front_end_learns_at_once_that_the_socket_is_busy_and_the_first_keeps_working()
    {
        using var daemon = DaemonProcess.Start(2);
        using var dump = Sim("dump", daemon.Socket(1), "-n", "1", "-L");
        dump.WaitFor(dump.Stderr, "listening on", ChildProcess.Timeout);

        var clock = Stopwatch.StartNew();
        using var second = Sim("send", daemon.Socket(1), "123#01");
        Assert.Contains("socket busy: another front-end is attached", AssertOneLineFailure(second, Unreachable));
        // Not the 5-second reply timeout: the daemon closes the newcomer before it asks anything.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"took {clock.Elapsed}");
        daemon.Process.WaitForLog("refused a second front-end");

        using var send = Sim("send", daemon.Socket(0), "321#AB");
        Assert.Equal(0, send.WaitForExit());
        Assert.Equal(0, dump.WaitForExit());
        Assert.EndsWith(" can.sock1 321#AB", Assert.Single(dump.Stdout));
    }

    [Fact]
    public void Bench_between_two_buses_times_out_with_a_message()
    {
        using var first = DaemonProcess.Start(1);
        using var second = DaemonProcess.Start(1);
        using var sim = Sim("bench", first.Socket(0), second.Socket(0), "--frames", "1000", "-T", "1");
        Assert.Contains("no frame reached", AssertOneLineFailure(sim, Refused, TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public void Dump_notices_the_daemon_going_away()
    {
        using var daemon = DaemonProcess.Start(1);
        using var dump = Sim("dump", daemon.Socket(0));
        dump.WaitFor(dump.Stderr, "listening on", ChildProcess.Timeout);
        daemon.Process.Signal("KILL");
        Assert.Contains("closed the connection", AssertOneLineFailure(dump, ConnectionLost));
    }

    [Fact]
    public void Dump_into_a_pipe_closed_by_head_ends_quietly()
    {
        using var daemon = DaemonProcess.Start(2);
        string sim = Path.Combine(RepositoryPaths.BinDirectory(), "vhost-can-sim");
        var start = new ProcessStartInfo("bash", ["-c", $"'{sim}' dump '{daemon.Socket(1)}' -L | head -1; echo \"status ${{PIPESTATUS[0]}}\""])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var pipeline = Process.Start(start)!;
        var deadline = Stopwatch.StartNew();
        // Keep sending until dump has written into the closed pipe and the pipeline has ended.
        while (!pipeline.HasExited && deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            using var send = Sim("send", daemon.Socket(0), "123#01", "123#02");
            send.WaitForExit();
        }
        Assert.True(pipeline.WaitForExit(TimeSpan.FromSeconds(5)), "the pipeline did not end");
        string[] lines = pipeline.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.Matches(@"^\(\d{10}\.\d{6}\) can\.sock1 123#0[12]$", lines[0]);
        Assert.Equal("status 0", lines[1]);
        Assert.DoesNotContain("error", pipeline.StandardError.ReadToEnd());
    }

    [Fact]
    public void Dump_log_format_carries_candump_timestamps_that_log2asc_reads()
    {
        using var daemon = DaemonProcess.Start(2);
        using var dump = Sim("dump", daemon.Socket(1), "-n", "3", "-L");
        dump.WaitFor(dump.Stderr, "listening on", ChildProcess.Timeout);
        double before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        using var send = Sim("send", daemon.Socket(0), "123#DEADBEEF", "1F334455#R", "0AB##1112233445566778899AABB");
        Assert.Equal(0, send.WaitForExit());
        Assert.Equal(0, dump.WaitForExit());
        string[] lines = [.. dump.Stdout];
        Assert.Equal(3, lines.Length);
        var stamps = lines.Select(l => Regex.Match(l, @"^\((\d{10})\.(\d{6})\) can\.sock1 (\S+)$")).ToArray();
        Assert.All(stamps, m => Assert.True(m.Success));
        Assert.Equal(["123#DEADBEEF", "1F334455#R", "0AB##0112233445566778899AABB00"], stamps.Select(m => m.Groups[3].Value).ToArray());
        double first = double.Parse(stamps[0].Groups[1].Value + "." + stamps[0].Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(first, before - 1, before + 10);

        string log = Path.Combine(daemon.Folder, "dump.log");
        File.WriteAllLines(log, lines);
        using var log2asc = Process.Start(new ProcessStartInfo("log2asc", ["-I", log, "can.sock1"]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        string asc = log2asc.StandardOutput.ReadToEnd();
        Assert.True(log2asc.WaitForExit(TimeSpan.FromSeconds(10)));
        Assert.Equal(0, log2asc.ExitCode);
        // Channel 1 (the first interface named), received, with the bytes as sent.
        Assert.Matches(@"\n\s*\d+\.\d+ 1\s+123\s+Rx\s+d 4 DE AD BE EF", asc);
        Assert.Matches(@"\n\s*\d+\.\d+ 1\s+1F334455x\s+Rx\s+r", asc);
        Assert.Matches(@"CANFD\s+1 Rx\s+AB\s+0 0 9 12 11 22 33 44 55 66 77 88 99 AA BB 00", asc);
    }

    [Theory]
    // canplayer refuses a log interface name longer than IFNAMSIZ allows (15), and splits lines at spaces.
    [InlineData("vhost-device-can.sock1", "evice-can.sock1")]
    [InlineData("my can.sock1", "my_can.sock1")]
    [InlineData("can.sock1", "can.sock1")]
    public void Dump_log_format_names_the_socket_as_an_interface_name_can_be(string linkName, string logName)
    {
        using var daemon = DaemonProcess.Start(2);
        string link = Path.Combine(daemon.Folder, linkName);
        if (linkName != "can.sock1") File.CreateSymbolicLink(link, daemon.Socket(1));
        using var dump = Sim("dump", link, "-n", "1", "-L");
        dump.WaitFor(dump.Stderr, "listening on", ChildProcess.Timeout);
        using var send = Sim("send", daemon.Socket(0), "123#01");
        Assert.Equal(0, send.WaitForExit());
        Assert.Equal(0, dump.WaitForExit());
        Assert.Matches($@"^\(\d{{10}}\.\d{{6}}\) {Regex.Escape(logName)} 123#01$", Assert.Single(dump.Stdout));
    }

    [Theory]
    [InlineData("a", @"^ \(\d{10}\.\d{6}\)  can\.sock1  123   \[1\]  0[12]$")]
    [InlineData("z", @"^ \(\d{3}\.\d{6}\)  can\.sock1  123   \[1\]  0[12]$")]
    [InlineData("d", @"^ \(\d{3}\.\d{6}\)  can\.sock1  123   \[1\]  0[12]$")]
    [InlineData("A", @"^ \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\)  can\.sock1  123   \[1\]  0[12]$")]
    public void Dump_timestamps_as_candump_prints_them(string mode, string pattern)
    {
        using var daemon = DaemonProcess.Start(2);
        using var dump = Sim("dump", daemon.Socket(1), "-n", "2", "-t", mode);
        dump.WaitFor(dump.Stderr, "listening on", ChildProcess.Timeout);
        using var send = Sim("send", daemon.Socket(0), "123#01", "123#02");
        Assert.Equal(0, send.WaitForExit());
        Assert.Equal(0, dump.WaitForExit());
        Assert.Equal(2, dump.Stdout.Count);
        Assert.All(dump.Stdout, l => Assert.Matches(pattern, l));
        if (mode is "z" or "d") Assert.StartsWith(" (000.000000)", dump.Stdout.First());
    }

    [Fact]
    public void Every_cansend_example_of_the_docs_is_accepted()
    {
        string root = Path.GetDirectoryName(RepositoryPaths.BinDirectory())!;
        root = Path.GetDirectoryName(root)!;
        string[] examples = [.. File.ReadLines(Path.Combine(root, "docs", "real-guest.md"))
            .Select(l => Regex.Match(l, @"^cansend can0 (\S+)"))
            .Where(m => m.Success)
            .Select(m => m.Groups[1].Value)];
        Assert.Contains("0AB##0112233445566778899AABB", examples);
        using var daemon = DaemonProcess.Start(2);
        using var dump = Sim("dump", daemon.Socket(1), "-n", examples.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        dump.WaitFor(dump.Stderr, "listening on", ChildProcess.Timeout);
        using var send = Sim(["send", daemon.Socket(0), .. examples]);
        Assert.Equal(0, send.WaitForExit());
        Assert.Empty(send.Stderr);
        Assert.Equal(0, dump.WaitForExit());
        // cansend pads an FD payload to the next FD length: 11 bytes travel as 12.
        Assert.Contains("  can.sock1  0AB  [12]  11 22 33 44 55 66 77 88 99 AA BB 00", dump.Stdout);
    }

    [Theory]
    // virtio-can carries no BRS or ESI, so every one arrives as a plain FD frame.
    [InlineData("123##F11", "123##011")]
    [InlineData("123##411", "123##011")]
    [InlineData("123##9", "123##0")]
    public void Fd_flags_take_any_hex_digit_as_cansend_does(string sent, string dumped)
    {
        using var daemon = DaemonProcess.Start(2);
        using var dump = Sim("dump", daemon.Socket(1), "-n", "1", "-L");
        dump.WaitFor(dump.Stderr, "listening on", ChildProcess.Timeout);
        using var send = Sim("send", daemon.Socket(0), sent);
        Assert.Equal(0, send.WaitForExit());
        Assert.Equal(0, dump.WaitForExit());
        Assert.EndsWith(" can.sock1 " + dumped, Assert.Single(dump.Stdout));
    }
}
