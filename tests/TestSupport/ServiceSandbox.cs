using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace VhostDeviceCan.TestSupport;

/// <summary>
/// The published daemon under <c>strace -f</c>, and what its trace does that the service unit's
/// sandbox (packaging/systemd/vhost-device-can@.service) would forbid: system calls outside
/// SystemCallFilter=, socket families outside RestrictAddressFamilies=, and memory mapped writable
/// and executable (MemoryDenyWriteExecute=). Groups expand as this host's systemd-analyze expands them.
/// </summary>
public sealed partial class ServiceSandbox : IDisposable
{
    public static readonly string Unit = Path.Combine(RepositoryPaths.Root(), "packaging", "systemd", "vhost-device-can@.service");

    private readonly string _trace;

    private ServiceSandbox(string directory, ChildProcess tracer, int pid)
    {
        Folder = directory;
        _trace = Path.Combine(directory, "trace");
        Tracer = tracer;
        Pid = pid;
    }

    public string Folder { get; }
    /// <summary>strace; the daemon's output passes through it.</summary>
    public ChildProcess Tracer { get; }
    /// <summary>The daemon's own pid, for signals.</summary>
    public int Pid { get; }
    public string Socket(int index) => Path.Combine(Folder, "can.sock" + index.ToString(CultureInfo.InvariantCulture));

    /// <summary>Starts the daemon on <c>DIR/can.sock0..</c> under strace and waits until every socket listens.</summary>
    public static ServiceSandbox Start(int count, IEnumerable<string> extra, IDictionary<string, string?>? environment = null)
    {
        string directory = DaemonProcess.NewDirectory();
        string prefix = Path.Combine(directory, "can.sock");
        var tracer = new ChildProcess("/usr/bin/strace",
            ["-f", "-qq", "-o", Path.Combine(directory, "trace"), RepositoryPaths.Binary("vhost-device-can"),
             "-s", prefix, "-c", count.ToString(CultureInfo.InvariantCulture), .. extra], environment);
        try
        {
            for (int i = 0; i < count; i++)
                tracer.WaitForLog($"listening on {Regex.Escape(prefix + i.ToString(CultureInfo.InvariantCulture))} ", TimeSpan.FromSeconds(60));
            return new ServiceSandbox(directory, tracer, TracedChild(tracer.Id));
        }
        catch
        {
            tracer.Dispose();
            throw;
        }
    }

    public void Signal(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, Pid.ToString(CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
        if (kill.ExitCode != 0) throw new InvalidOperationException($"kill -{signal} {Pid} exited {kill.ExitCode}");
    }

    /// <summary>SIGTERM, waits for the daemon's exit status, and returns every system call name the trace shows.</summary>
    public (int Status, IReadOnlySet<string> Syscalls, IReadOnlyList<string> Violations) Finish()
    {
        Signal("TERM");
        int status = Tracer.WaitForExit(TimeSpan.FromSeconds(60));
        string[] lines = File.ReadAllLines(_trace);
        var used = lines.Select(l => SyscallName().Match(l)).Where(m => m.Success).Select(m => m.Groups[1].Value).ToHashSet();
        var violations = new List<string>();
        var allowed = AllowedSyscalls();
        violations.AddRange(used.Where(s => !allowed.Contains(s)).Order().Select(s => $"system call {s} outside SystemCallFilter="));
        string[] families = [.. UnitValues("RestrictAddressFamilies").SelectMany(v => v.Split(' ', StringSplitOptions.RemoveEmptyEntries))];
        violations.AddRange(lines.Select(l => SocketFamily().Match(l)).Where(m => m.Success).Select(m => m.Groups[1].Value).Distinct()
            .Where(f => !families.Contains(f)).Select(f => $"socket family {f} outside RestrictAddressFamilies="));
        if (UnitValues("MemoryDenyWriteExecute").SingleOrDefault() == "yes")
            violations.AddRange(lines.Where(WritableExecutable).Select(l => $"writable executable memory: {l}"));
        else
            violations.Add("the unit no longer sets MemoryDenyWriteExecute=yes");
        return (status, used, violations);
    }

    private static bool WritableExecutable(string line) =>
        line.Contains("PROT_EXEC", StringComparison.Ordinal)
        && ((line.Contains("mmap(", StringComparison.Ordinal) && line.Contains("PROT_WRITE", StringComparison.Ordinal))
            || line.Contains("mprotect(", StringComparison.Ordinal));

    /// <summary>The unit's SystemCallFilter= lines: allow-lists united, then "~" deny-lists taken away.</summary>
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
        if (allowed.Count == 0) throw new InvalidOperationException($"{Unit} allows no system call");
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
        if (process.ExitCode != 0 || groups.Count == 0) throw new InvalidOperationException("systemd-analyze syscall-filter failed");
        return groups;
    }

    private static IEnumerable<string> UnitValues(string key) =>
        File.ReadAllLines(Unit).Where(l => l.StartsWith(key + "=", StringComparison.Ordinal)).Select(l => l[(key.Length + 1)..].Trim());

    private static int TracedChild(int tracerPid)
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

    public void Dispose()
    {
        Tracer.Terminate(TimeSpan.FromSeconds(20));
        Tracer.Dispose();
        try { Directory.Delete(Folder, recursive: true); } catch (IOException) { }
    }

    /// <summary>"1234  epoll_wait(" or "1234  <... epoll_wait resumed>"; strace -f prefixes the pid.</summary>
    [GeneratedRegex(@"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)")]
    private static partial Regex SyscallName();

    [GeneratedRegex(@"socket\((AF_[A-Z0-9]+)")]
    private static partial Regex SocketFamily();
}
