using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>The daemon's log as a service manager receives it: stderr redirected to a file, as
/// systemd connects it to a file or to the journal.</summary>
public sealed partial class LogFormatTests
{
    [GeneratedRegex(@"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) \S+: \S")]
    private static partial Regex PlainLine();

    [GeneratedRegex(@"^<([2-7])>\S+: \S")]
    private static partial Regex JournalLine();

    [Fact]
    public void Lines_in_a_file_carry_the_UTC_date_and_time_and_the_level()
    {
        DateTime before = DateTime.UtcNow.AddSeconds(-1);
        using var daemon = FileLoggedDaemon.Start(journalStream: null, "-l", "debug");
        daemon.Signal("USR1");
        string[] lines = daemon.WaitForLine("forced bus-off");
        DateTime after = DateTime.UtcNow.AddSeconds(1);
        foreach (string line in lines)
        {
            Match match = PlainLine().Match(line);
            Assert.True(match.Success, $"not in the plain format: '{line}'");
            DateTime stamp = DateTime.ParseExact(match.Groups[1].Value, "yyyy-MM-dd'T'HH:mm:ss.fff'Z'",
                CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);
            Assert.InRange(stamp, before, after);
        }
        Assert.Contains(lines, l => l.Contains(" INFO  vhost-device-can: listening on ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains(" WARN  vhost-device-can: SIGUSR1: ", StringComparison.Ordinal));
    }

    [Fact]
    public void When_stderr_is_the_journal_lines_carry_syslog_priorities_and_no_time()
    {
        using var daemon = FileLoggedDaemon.Start(FileLoggedDaemon.SameAsLogFile, "-l", "debug");
        daemon.Signal("USR1");
        string[] lines = daemon.WaitForLine("forced bus-off");
        foreach (string line in lines) Assert.True(JournalLine().IsMatch(line), $"not in the journal format: '{line}'");
        Assert.Contains(lines, l => l.StartsWith("<6>vhost-device-can: listening on ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("<4>vhost-device-can: SIGUSR1: ", StringComparison.Ordinal));

        // A probe of the socket is logged at debug level: LOG_DEBUG.
        using (Interop.UnixSocket.Connect(daemon.Socket)) { }
        Assert.Contains(daemon.WaitForLine("without a message"), l => l.StartsWith("<7>can.sock0: a connection from ", StringComparison.Ordinal));
    }

    [Fact]
    public void A_daemon_that_cannot_start_tells_the_journal_at_error_priority()
    {
        // journalctl -p err must show why a service failed: its one line carries LOG_ERR.
        string folder = DaemonProcess.NewDirectory();
        string logFile = Path.Combine(folder, "stderr.log");
        File.WriteAllText(logFile, "");
        string[] Run(string journalStream)
        {
            var start = new ProcessStartInfo("bash") { UseShellExecute = false };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add("exec \"$0\" --socket-count 0 -s \"$1\" 2>\"$LOG_FILE\"");
            start.ArgumentList.Add(RepositoryPaths.Binary("vhost-device-can"));
            start.ArgumentList.Add(Path.Combine(folder, "can.sock"));
            start.Environment["LOG_FILE"] = logFile;
            start.Environment["JOURNAL_STREAM"] = journalStream;
            using var daemon = Process.Start(start)!;
            daemon.WaitForExit();
            Assert.Equal(2, daemon.ExitCode);
            return File.ReadAllLines(logFile);
        }
        Assert.StartsWith("<3>vhost-device-can: error: --socket-count", Assert.Single(Run(FileLoggedDaemon.Identity(logFile))), StringComparison.Ordinal);
        Assert.StartsWith("vhost-device-can: error: --socket-count", Assert.Single(Run("1:1")), StringComparison.Ordinal);
        Directory.Delete(folder, recursive: true);
    }

    [Theory]
    [InlineData("1:1")]
    [InlineData("garbage")]
    [InlineData("")]
    public void A_JOURNAL_STREAM_that_is_not_this_stderr_leaves_the_plain_format(string value)
    {
        // Inherited from a parent whose stderr went to the journal, while this one's goes elsewhere.
        using var daemon = FileLoggedDaemon.Start(value);
        foreach (string line in daemon.WaitForLine("listening on"))
            Assert.True(PlainLine().IsMatch(line), $"not in the plain format: '{line}'");
    }

    [Fact]
    public void A_JOURNAL_STREAM_naming_another_file_leaves_the_plain_format()
    {
        string other = Path.GetTempFileName();
        try
        {
            using var daemon = FileLoggedDaemon.Start(FileLoggedDaemon.Identity(other));
            foreach (string line in daemon.WaitForLine("listening on"))
                Assert.True(PlainLine().IsMatch(line), $"not in the plain format: '{line}'");
        }
        finally
        {
            File.Delete(other);
        }
    }

    /// <summary>The published daemon with stderr redirected to a file by the shell, as a service
    /// manager redirects it, and $JOURNAL_STREAM as given.</summary>
    private sealed class FileLoggedDaemon : IDisposable
    {
        /// <summary>Stands for the log file's own "DEVICE:INODE".</summary>
        public const string SameAsLogFile = "(log file)";

        private readonly Process _process;
        private readonly string _folder;
        private readonly string _logFile;

        private FileLoggedDaemon(Process process, string folder, string logFile)
        {
            _process = process;
            _folder = folder;
            _logFile = logFile;
        }

        public string Socket => Path.Combine(_folder, "can.sock0");

        public static FileLoggedDaemon Start(string? journalStream, params string[] extra)
        {
            string folder = DaemonProcess.NewDirectory();
            string logFile = Path.Combine(folder, "stderr.log");
            File.WriteAllText(logFile, "");
            var start = new ProcessStartInfo("bash")
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
            };
            // exec: the daemon takes the shell's pid, and its fd 2 is the log file itself.
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add("exec \"$0\" \"$@\" 2>>\"$LOG_FILE\"");
            start.ArgumentList.Add(RepositoryPaths.Binary("vhost-device-can"));
            foreach (string argument in (string[])["-s", Path.Combine(folder, "can.sock"), .. extra]) start.ArgumentList.Add(argument);
            start.Environment.Remove("RUST_LOG");
            start.Environment["LOG_FILE"] = logFile;
            if (journalStream is null) start.Environment.Remove("JOURNAL_STREAM");
            else start.Environment["JOURNAL_STREAM"] = journalStream == SameAsLogFile ? Identity(logFile) : journalStream;
            var daemon = new FileLoggedDaemon(Process.Start(start)!, folder, logFile);
            try
            {
                daemon.WaitForLine("listening on");
            }
            catch
            {
                daemon.Dispose();
                throw;
            }
            return daemon;
        }

        /// <summary>"DEVICE:INODE" of <paramref name="path"/> in decimal, as systemd writes
        /// $JOURNAL_STREAM, told by coreutils' stat rather than by the code under test.</summary>
        public static string Identity(string path)
        {
            var start = new ProcessStartInfo("stat", ["-L", "-c", "%d:%i", path]) { RedirectStandardOutput = true };
            using var stat = Process.Start(start)!;
            string identity = stat.StandardOutput.ReadToEnd().Trim();
            stat.WaitForExit();
            Assert.Equal(0, stat.ExitCode);
            return identity;
        }

        /// <summary>Every line of the log once one contains <paramref name="text"/>.</summary>
        public string[] WaitForLine(string text)
        {
            var clock = Stopwatch.StartNew();
            while (true)
            {
                string[] lines = File.ReadAllLines(_logFile);
                if (lines.Any(l => l.Contains(text, StringComparison.Ordinal))) return lines;
                if (_process.HasExited || clock.Elapsed > ChildProcess.Timeout)
                    throw new TimeoutException($"no line with '{text}' in the daemon's log:\n{string.Join('\n', lines)}");
                Thread.Sleep(20);
            }
        }

        public void Signal(string signal)
        {
            using var kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(CultureInfo.InvariantCulture)]);
            kill.WaitForExit();
            Assert.Equal(0, kill.ExitCode);
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                Signal("TERM");
                if (!_process.WaitForExit(TimeSpan.FromSeconds(20))) _process.Kill();
            }
            _process.WaitForExit();
            _process.Dispose();
            try { Directory.Delete(_folder, recursive: true); } catch (IOException) { }
        }
    }
}
