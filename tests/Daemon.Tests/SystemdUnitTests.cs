using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>
/// The unit files in packaging/systemd, checked by systemd's own parser as a package installs
/// them: `systemd-analyze verify` and `systemd-analyze security --offline` against a temporary root
/// holding the units in /usr/lib/systemd/system, the host's standard targets they depend on and an
/// executable at ExecStart's path. No running systemd is needed.
/// </summary>
public sealed class SystemdUnitTests
{
    private const string Instance = "lab";

    /// <summary>The exposure score the hardening reaches (systemd 252 scale: 0 safest, 10 worst);
    /// a change that weakens it fails here and must update the README's figure.</summary>
    private const double HighestExposure = 1.5;

    private static string UnitDirectory => Path.Combine(RepositoryPaths.Root(), "packaging", "systemd");

    [Fact]
    public void The_units_verify_without_a_single_complaint()
    {
        using var root = new UnitRoot(UnitDirectory);
        var (status, output) = root.Analyze("verify", "--man=no", $"vhost-device-can@{Instance}.socket", $"vhost-device-can@{Instance}.service");
        Assert.True(status == 0 && output.Length == 0, $"systemd-analyze verify exited {status}:\n{output}");
    }

    /// <summary>The documented drop-in for --bridge and --metrics verifies with the units, and
    /// systemd reads it: the instance's address families then include AF_INET.</summary>
    [Fact]
    public void The_network_drop_in_example_verifies_and_adds_IP()
    {
        using var root = new UnitRoot(UnitDirectory);
        string dropIns = Path.Combine(root.UnitPath, $"vhost-device-can@{Instance}.service.d");
        Directory.CreateDirectory(dropIns);
        File.Copy(Path.Combine(UnitDirectory, "network.conf.example"), Path.Combine(dropIns, "network.conf"));
        var (status, output) = root.Analyze("verify", "--man=no", $"vhost-device-can@{Instance}.socket", $"vhost-device-can@{Instance}.service");
        Assert.True(status == 0 && output.Length == 0, $"systemd-analyze verify exited {status}:\n{output}");
        var (shown, security) = root.Analyze("security", "--offline=true", "--no-pager", $"vhost-device-can@{Instance}.service");
        Assert.True(shown == 0, security);
        // Without the drop-in both rows read ✓ (no Internet sockets, every IP range blocked).
        Assert.Matches(@"✗ RestrictAddressFamilies=~AF_\(INET\|INET6\)\s+Service may allocate Internet sockets", security);
        Assert.Matches(@"✗ IPAddressDeny=\s+Service defines IP address allow list", security);
        Match score = Regex.Match(security, @"Overall exposure level for \S+: (\d+\.\d)");
        Assert.True(score.Success && double.Parse(score.Groups[1].Value, CultureInfo.InvariantCulture) <= HighestExposure, security);
    }

    [Theory]
    [InlineData("vhost-device-can@.service", "PrivateTmp=yes", "PrivateTmpp=yes", "Unknown key 'PrivateTmpp'")]
    [InlineData("vhost-device-can@.socket", "SocketMode=0660", "SocketMode=0680", "Failed to parse mode value")]
    [InlineData("vhost-device-can@.service", "ExecStart=/usr/bin/vhost-device-can", "ExecStart=/usr/sbin/vhost-device-can", "is not executable")]
    public void A_broken_unit_is_caught(string file, string good, string broken, string complaint)
    {
        using var root = new UnitRoot(UnitDirectory);
        string path = Path.Combine(root.UnitPath, file);
        string text = File.ReadAllText(path);
        Assert.Contains(good, text, StringComparison.Ordinal);
        File.WriteAllText(path, text.Replace(good, broken, StringComparison.Ordinal));
        var (status, output) = root.Analyze("verify", "--man=no", $"vhost-device-can@{Instance}.socket", $"vhost-device-can@{Instance}.service");
        Assert.False(status == 0 && output.Length == 0, "the broken unit verified cleanly");
        Assert.Contains(complaint, output, StringComparison.Ordinal);
    }

    [Fact]
    public void The_service_exposure_score_stays_low()
    {
        using var root = new UnitRoot(UnitDirectory);
        var (status, output) = root.Analyze("security", "--offline=true", "--no-pager", $"vhost-device-can@{Instance}.service");
        Assert.True(status == 0, $"systemd-analyze security exited {status}:\n{output}");
        Match score = Regex.Match(output, @"Overall exposure level for \S+: (\d+\.\d)");
        Assert.True(score.Success, output);
        double exposure = double.Parse(score.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.True(exposure <= HighestExposure, $"exposure {exposure} above {HighestExposure}:\n{output}");
    }

    /// <summary>A throw-away root directory for systemd-analyze --root.</summary>
    private sealed class UnitRoot : IDisposable
    {
        private readonly string _root = Directory.CreateTempSubdirectory("vdc-units-").FullName;

        public UnitRoot(string units)
        {
            UnitPath = Path.Combine(_root, "usr", "lib", "systemd", "system");
            Directory.CreateDirectory(UnitPath);
            int copied = 0;
            foreach (string unit in Directory.EnumerateFiles(units).Where(f => f.EndsWith(".service", StringComparison.Ordinal) || f.EndsWith(".socket", StringComparison.Ordinal)))
            {
                File.Copy(unit, Path.Combine(UnitPath, Path.GetFileName(unit)));
                copied++;
            }
            Assert.Equal(2, copied);
            // sockets.target, sysinit.target and the rest that every unit's default dependencies name.
            foreach (string target in Directory.EnumerateFiles("/usr/lib/systemd/system", "*.target"))
                File.Copy(target, Path.Combine(UnitPath, Path.GetFileName(target)));
            // What the Debian package installs at ExecStart's path; verify only checks it is executable.
            string binary = Path.Combine(_root, "usr", "bin", "vhost-device-can");
            Directory.CreateDirectory(Path.GetDirectoryName(binary)!);
            File.Copy(RepositoryPaths.Binary("vhost-device-can"), binary);
        }

        public string UnitPath { get; }

        /// <summary>Runs systemd-analyze with --root; returns its status and everything it printed.</summary>
        public (int Status, string Output) Analyze(params string[] arguments)
        {
            var start = new ProcessStartInfo("systemd-analyze")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            start.ArgumentList.Add($"--root={_root}");
            foreach (string argument in arguments) start.ArgumentList.Add(argument);
            start.Environment["SYSTEMD_COLORS"] = "0";
            using var process = Process.Start(start)!;
            Task<string> stdout = process.StandardOutput.ReadToEndAsync();
            string stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, (stdout.Result + stderr).Trim());
        }

        public void Dispose() => Directory.Delete(_root, recursive: true);
    }
}
