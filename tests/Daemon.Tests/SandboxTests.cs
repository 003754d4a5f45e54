using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using VhostDeviceCan.VirtioCanWire;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>
/// The service unit's sandbox against what the daemon really does: the daemon runs under
/// strace -f through start-up, two guests, traffic both ways, SIGUSR2 and SIGTERM, and every
/// system call, socket family and memory protection it used must be one the unit allows
/// (SystemCallFilter=, RestrictAddressFamilies=, MemoryDenyWriteExecute=). A NativeAOT runtime
/// that started needing another call would fail here instead of dying under systemd.
/// </summary>
public sealed partial class SandboxTests
{
    private static readonly string Unit = Path.Combine(RepositoryPaths.Root(), "packaging", "systemd", "vhost-device-can@.service");

    [Fact]
    public void Everything_the_daemon_does_is_inside_the_service_sandbox()
    {
        string directory = DaemonProcess.NewDirectory();
        try
        {
            string trace = Path.Combine(directory, "trace");
            string prefix = Path.Combine(directory, "can.sock");
            using var tracer = new ChildProcess("/usr/bin/strace",
                ["-f", "-qq", "-o", trace, RepositoryPaths.Binary("vhost-device-can"), "-s", prefix, "-c", "2"],
                new Dictionary<string, string?> { ["WATCHDOG_USEC"] = "400000" });
            tracer.WaitForLog($"listening on {Regex.Escape(prefix)}1 ", TimeSpan.FromSeconds(60));
            int daemon = DaemonPid(tracer.Id);
            var patient = new VirtioCanGuestOptions { ConnectTimeout = TimeSpan.FromSeconds(30) };
            using (var a = VirtioCanGuest.Connect(prefix + "0", patient))
            using (var b = VirtioCanGuest.Connect(prefix + "1", patient))
            {
                Assert.True(a.Start() && b.Start(), "START refused");
                var heard = new CanFrame[1];
                Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(CanFrame.Classic(0x123, false, [1])));
                Assert.Equal(1, b.Receive(heard, TimeSpan.FromSeconds(30)));
                Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, b.SendAndWait(CanFrame.Fd(0x1234567, true, new byte[64], 0)));
                Assert.Equal(1, a.Receive(heard, TimeSpan.FromSeconds(30)));
                Signal("USR2", daemon);
                tracer.WaitForLog("SIGUSR2: ", TimeSpan.FromSeconds(30));
            }
            Signal("TERM", daemon);
            Assert.Equal(0, tracer.WaitForExit(TimeSpan.FromSeconds(60)));

            string[] lines = File.ReadAllLines(trace);
            var used = lines.Select(l => SyscallName().Match(l)).Where(m => m.Success).Select(m => m.Groups[1].Value).ToHashSet();
            Assert.Contains("epoll_wait", used);
            var allowed = AllowedSyscalls();
            Assert.Equal([], used.Where(s => !allowed.Contains(s)).Order().ToArray());

            string[] families = UnitValues("RestrictAddressFamilies").SelectMany(v => v.Split(' ')).ToArray();
            var opened = lines.Select(l => SocketFamily().Match(l)).Where(m => m.Success).Select(m => m.Groups[1].Value).Distinct();
            Assert.Equal([], opened.Where(f => !families.Contains(f)).ToArray());

            Assert.Contains("MemoryDenyWriteExecute=yes", File.ReadAllLines(Unit));
            Assert.Equal([], lines.Where(l => (l.Contains("mmap(", StringComparison.Ordinal) || l.Contains("mprotect(", StringComparison.Ordinal))
                && l.Contains("PROT_EXEC", StringComparison.Ordinal)
                && (l.Contains("PROT_WRITE", StringComparison.Ordinal) || l.Contains("mprotect(", StringComparison.Ordinal))).ToArray());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>The unit's SystemCallFilter= lines: allow-lists united, then "~" deny-lists taken away,
    /// each group expanded as this host's systemd expands it.</summary>
    private static HashSet<string> AllowedSyscalls()
    {
        var groups = SyscallGroups();
        var allowed = new HashSet<string>();
        var denied = new HashSet<string>();
        foreach (string value in UnitValues("SystemCallFilter"))
        {
            bool deny = value.StartsWith('~');
            foreach (string entry in value.TrimStart('~').Split(' ', StringSplitOptions.RemoveEmptyEntries))
                (deny ? denied : allowed).UnionWith(Expand(entry, groups));
        }
        Assert.NotEmpty(allowed);
        allowed.ExceptWith(denied);
        return allowed;
    }

    private static IEnumerable<string> Expand(string entry, Dictionary<string, List<string>> groups) =>
        entry.StartsWith('@') ? groups[entry].SelectMany(e => Expand(e, groups)) : [entry];

    /// <summary>`systemd-analyze syscall-filter`: "@group" headers, each followed by its members.</summary>
    private static Dictionary<string, List<string>> SyscallGroups()
    {
        var start = new ProcessStartInfo("systemd-analyze", ["syscall-filter", "--no-pager"]) { RedirectStandardOutput = true };
        using var process = Process.Start(start)!;
        var groups = new Dictionary<string, List<string>>();
        List<string>? current = null;
        while (process.StandardOutput.ReadLine() is { } line)
        {
            if (line.StartsWith('@')) groups[line.Trim()] = current = [];
            else if (current is not null && line.Trim() is { Length: > 0 } member && !member.StartsWith('#')) current.Add(member);
        }
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
        return groups;
    }

    private static IEnumerable<string> UnitValues(string key) =>
        File.ReadAllLines(Unit).Where(l => l.StartsWith(key + "=", StringComparison.Ordinal)).Select(l => l[(key.Length + 1)..].Trim());

    private static int DaemonPid(int tracerPid)
    {
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            string children = File.ReadAllText($"/proc/{tracerPid}/task/{tracerPid}/children").Trim();
            if (children.Length > 0) return int.Parse(children.Split(' ')[0], CultureInfo.InvariantCulture);
            Thread.Sleep(50);
        }
        throw new TimeoutException("strace started no daemon");
    }

    private static void Signal(string signal, int pid)
    {
        using var kill = Process.Start("kill", ["-" + signal, pid.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>"1234  epoll_wait(" or "1234  <... epoll_wait resumed>"; strace -f prefixes the pid.</summary>
    [GeneratedRegex(@"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)")]
    private static partial Regex SyscallName();

    [GeneratedRegex(@"socket\((AF_[A-Z0-9]+)")]
    private static partial Regex SocketFamily();
}
