using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>The Debian package from packaging/deb/build.sh: what it holds, what lintian says of it,
/// and, as root, a real dpkg install that runs the README's quick start from /usr/bin and a
/// purge that leaves nothing behind.</summary>
public sealed class PackageTests(DebianPackage package, ITestOutputHelper output) : IClassFixture<DebianPackage>
{
    private const string UsrBin = "/usr/bin/";
    private const string UnitFolder = "/usr/lib/systemd/system/";
    private const string DocFolder = "/usr/share/doc/vhost-device-can";

    [Fact]
    public void Package_holds_both_programs_their_pages_units_and_docs()
    {
        Assert.Equal($"{DebianPackage.Name}_{package.Version}_amd64.deb", Path.GetFileName(package.File));
        // The upstream part of the version is the binaries' own (0.1.0+commit gives 0.1.0-N).
        using (var version = new ChildProcess("vhost-device-can", ["--version"]))
        {
            Assert.Equal(0, version.WaitForExit());
            Assert.Equal(Assert.Single(version.Stdout).Split('+')[0], package.Version.Split('-')[0]);
        }
        Assert.Matches(@"^libc6 \(>= [0-9.]+\)", Tool.Succeed("dpkg-deb", "--field", package.File, "Depends").Stdout);

        string[] expected =
        [
            UsrBin + "vhost-device-can", UsrBin + "vhost-can-sim", UsrBin + "vhost-can-ctl",
            "/usr/share/man/man8/vhost-device-can.8.gz", "/usr/share/man/man1/vhost-can-sim.1.gz", "/usr/share/man/man1/vhost-can-ctl.1.gz",
            DocFolder + "/copyright", DocFolder + "/changelog.Debian.gz", DocFolder + "/README.md", DocFolder + "/control-protocol.md",
            DocFolder + "/examples/network.conf.example", DocFolder + "/guides/two-hosts.md", DocFolder + "/guides/hub.md",
            "/etc/default/vhost-device-can",
            .. DebianPackage.SystemdUnits().Select(unit => UnitFolder + Path.GetFileName(unit)),
        ];
        Assert.Empty(expected.Except(package.Paths));
        // The test host in artifacts/bin is no part of the product.
        Assert.DoesNotContain(package.Paths, path => path.Contains("echo-device-host", StringComparison.Ordinal));
        Assert.Equal([UsrBin + "vhost-can-ctl", UsrBin + "vhost-can-sim", UsrBin + "vhost-device-can"],
            package.Paths.Where(path => path.StartsWith(UsrBin, StringComparison.Ordinal)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Lintian_reports_no_error()
    {
        Assert.True(Tool.IsInstalled("lintian"), "lintian is not installed (apt-get install lintian; .ci/run does)");
        ToolResult lintian = Tool.Run("lintian", ["--info", "--display-info", "--pedantic", package.File], timeout: TimeSpan.FromMinutes(5));
        output.WriteLine(lintian.ToString());
        string[] errors = [.. lintian.Stdout.Split('\n').Where(line => line.StartsWith("E: ", StringComparison.Ordinal))];
        Assert.True(errors.Length == 0, "lintian errors:\n" + string.Join('\n', errors));
        Assert.True(lintian.ExitCode == 0, lintian.ToString());
    }

    [RootFact]
    public void Installed_package_runs_the_quick_start_and_purges_without_a_trace()
    {
        PurgeIfInstalled();
        // dpkg would overwrite a file of the same name installed by hand: refuse to touch it.
        Assert.DoesNotContain(package.Paths, File.Exists);
        HashSet<string> tracesBefore = Traces();
        HashSet<string> directoriesBefore = [.. package.Directories.Where(Directory.Exists)];
        try
        {
            Tool.Succeed("dpkg", "--install", package.File);
            Assert.Equal("install ok installed", Status());
            string[] listed = [.. Tool.Succeed("dpkg", "--listfiles", DebianPackage.Name).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)];
            Assert.Empty(package.Paths.Except(listed));
            // Nothing but the listed files and dpkg's own records of the package appeared.
            Assert.DoesNotContain(Traces().Except(tracesBefore).Except(listed),
                path => !path.StartsWith("/var/lib/dpkg/info/vhost-device-can.", StringComparison.Ordinal));

            foreach (string unit in DebianPackage.SystemdUnits())
                Assert.Equal(File.ReadAllText(unit), File.ReadAllText(UnitFolder + Path.GetFileName(unit)));
            Assert.False(File.Exists(UsrBin + "echo-device-host"));
            Assert.Equal("/usr/share/man/man8/vhost-device-can.8.gz", Tool.Succeed("man", "-w", "vhost-device-can").Stdout.Trim());
            Assert.Equal("/usr/share/man/man1/vhost-can-sim.1.gz", Tool.Succeed("man", "-w", "vhost-can-sim").Stdout.Trim());
            ToolResult page = Tool.Run("man", ["-P", "cat", "vhost-device-can"],
                environment: new Dictionary<string, string> { ["MANWIDTH"] = "80", ["LC_ALL"] = "C.UTF-8", ["MAN_KEEP_FORMATTING"] = "" });
            Assert.True(page.ExitCode == 0, page.ToString());
            Assert.Contains("SIGUSR2", page.Stdout);

            RunQuickStart();

            Tool.Succeed("dpkg", "--purge", DebianPackage.Name);
            Assert.Equal("", Status());
            // Gone, but for directories the system had before (/usr/bin, /usr/share/man/man8, ...).
            foreach (string path in listed.Where(path => path != "/."))
                Assert.True(!Path.Exists(path) || directoriesBefore.Contains(path), $"{path} is still there after dpkg --purge");
            Assert.False(Directory.Exists(DocFolder));
            Assert.Equal(tracesBefore.Order(StringComparer.Ordinal), Traces().Order(StringComparer.Ordinal));
            Assert.NotEqual(0, Tool.Run("man", "-w", "vhost-device-can").ExitCode);
        }
        finally
        {
            PurgeIfInstalled();
        }
    }

    /// <summary>README's quick start with the installed programs: the daemon on the built-in bus
    /// with two guests, a simulated guest sending on one socket and another receiving on the other.</summary>
    private static void RunQuickStart()
    {
        string directory = DaemonProcess.NewDirectory();
        try
        {
            // An absolute path is taken as it is, not looked up in artifacts/bin.
            using var version = new ChildProcess(UsrBin + "vhost-device-can", ["--version"]);
            Assert.Equal(0, version.WaitForExit());

            string prefix = Path.Combine(directory, "can.sock");
            using var daemon = new ChildProcess(UsrBin + "vhost-device-can", ["--socket-path", prefix, "--socket-count", "2"]);
            for (int i = 0; i < 2; i++) daemon.WaitForLog($"listening on {Regex.Escape(prefix + i)} ", TimeSpan.FromSeconds(30));

            using var dump = new ChildProcess(UsrBin + "vhost-can-sim", ["dump", prefix + "1", "-n", "2", "-T", "20"]);
            dump.WaitFor(dump.Stderr, "listening on", ChildProcess.Timeout);
            using var send = new ChildProcess(UsrBin + "vhost-can-sim", ["send", prefix + "0", "123#DEADBEEF", "123##1000102030405060708090A0B"]);
            Assert.Equal(0, send.WaitForExit());
            Assert.Equal(0, dump.WaitForExit(TimeSpan.FromSeconds(30)));
            Assert.Equal(["  can.sock1  123   [4]  DE AD BE EF", "  can.sock1  123  [12]  00 01 02 03 04 05 06 07 08 09 0A 0B"], dump.Stdout);

            daemon.Signal("TERM");
            Assert.Equal(0, daemon.WaitForExit(TimeSpan.FromSeconds(20)));
            Assert.Empty(Directory.GetFileSystemEntries(directory));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>dpkg's status of the package: "install ok installed", or "" when it is unknown or purged.</summary>
    private static string Status()
    {
        ToolResult query = Tool.Run("dpkg-query", "--show", "--showformat=${Status}", DebianPackage.Name);
        return query.ExitCode == 0 ? query.Stdout.Trim() : "";
    }

    private static void PurgeIfInstalled()
    {
        if (Status() is "" or "unknown ok not-installed") return;
        Tool.Succeed("dpkg", "--purge", DebianPackage.Name);
    }

    /// <summary>Every path under /etc, /run, /usr and /var named after the package or its programs
    /// (the repository's own tree aside), without following symbolic links.</summary>
    private static HashSet<string> Traces()
    {
        string repository = RepositoryPaths.Root();
        var options = new EnumerationOptions
        {
            RecurseSubdirectories = true,
            IgnoreInaccessible = true,
            AttributesToSkip = FileAttributes.ReparsePoint,
            ReturnSpecialDirectories = false,
        };
        var traces = new HashSet<string>(StringComparer.Ordinal);
        foreach (string root in new[] { "/etc", "/run", "/usr", "/var" })
            foreach (string path in Directory.EnumerateFileSystemEntries(root, "*vhost-*", options))
                if ((path.Contains("vhost-device-can", StringComparison.Ordinal) || path.Contains("vhost-can-sim", StringComparison.Ordinal)
                    || path.Contains("vhost-can-ctl", StringComparison.Ordinal))
                    && !path.StartsWith(repository + "/", StringComparison.Ordinal))
                    traces.Add(path);
        return traces;
    }
}
