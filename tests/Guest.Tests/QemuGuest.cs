using System.Diagnostics;
using System.Text.RegularExpressions;

namespace VhostDeviceCan.Guest.Tests;

/// <summary>One QEMU guest started by tests/guest/run-guest.sh, its serial console captured
/// line by line. The scenario reports "VDC-MARK: ..." lines along the way and one
/// "VDC-RESULT: PASS|FAIL reason" at the end.</summary>
internal sealed partial class QemuGuest : IDisposable
{
    private readonly Process _process;

    public LineLog Console { get; } = new();
    public string Scenario { get; }

    private QemuGuest(string scenario, string socket, string kernelArguments, int timeoutSeconds)
    {
        Scenario = scenario;
        var start = new ProcessStartInfo(GuestEnvironment.RunGuest)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (string argument in new[] { "-s", scenario, "-S", socket, "-t", timeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            start.ArgumentList.Add(argument);
        if (kernelArguments.Length > 0)
        {
            start.ArgumentList.Add("-a");
            start.ArgumentList.Add(kernelArguments);
        }
        foreach (var (key, value) in GuestEnvironment.Artifacts) start.Environment[key] = value;
        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) => Console.Add(e.Data);
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Add(e.Data); };
        _process.Start();
        _process.StandardInput.Close();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Boots a guest running scenarios/<paramref name="scenario"/>.sh against the back-end
    /// on <paramref name="socket"/>; run-guest.sh kills it after <paramref name="timeoutSeconds"/>.</summary>
    public static QemuGuest Start(string scenario, string socket, string kernelArguments = "", int timeoutSeconds = 300) =>
        new(scenario, socket, kernelArguments, timeoutSeconds);

    /// <summary>Waits for "VDC-MARK: <paramref name="mark"/>" (a regex) and returns its match.</summary>
    public Match? WaitForMark(string mark, TimeSpan timeout, int from = 0) =>
        Console.WaitFor(new Regex("VDC-MARK: " + mark), timeout, from)?.Match;

    /// <summary>Waits for run-guest.sh to end; its status is 0 only after "VDC-RESULT: PASS".</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
            return -1;
        }
        _process.WaitForExit(); // drains the output events
        return _process.ExitCode;
    }

    public bool HasExited => _process.HasExited;

    public string? Result => Console.Snapshot().Select(l => ResultLine().Match(l)).LastOrDefault(m => m.Success)?.Groups[1].Value;

    /// <summary>"VDC-RX: " lines (what the guest's candump printed, without timestamps).</summary>
    public IReadOnlyList<string> Received(string prefix = "") =>
        [.. Console.Snapshot().Select(l => l.IndexOf("VDC-RX: " + prefix, StringComparison.Ordinal) is int i and >= 0 ? l[(i + 8 + prefix.Length)..].Trim() : null)
            .OfType<string>()];

    /// <summary>SIGKILL to the QEMU process itself (not the script): no reset, no clean disconnect.</summary>
    public void KillQemu()
    {
        int? qemu = FindQemu(_process.Id);
        if (qemu is null) throw new InvalidOperationException("no QEMU process under run-guest.sh");
        Native.Kill(qemu.Value, Native.SIGKILL);
    }

    /// <summary>The QEMU under the script: the wrapper execs trixie's loader with QEMU as its
    /// program, so it is the descendant whose argv[0] is ld-linux (timeout's argv names QEMU too).</summary>
    private static int? FindQemu(int root)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (string dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            try
            {
                string stat = File.ReadAllText(Path.Combine(dir, "stat"));
                int ppid = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
                if (!children.TryGetValue(ppid, out var list)) children[ppid] = list = [];
                list.Add(pid);
            }
            catch (IOException)
            {
            }
        }
        var pending = new Stack<int>([root]);
        while (pending.Count > 0)
        {
            int pid = pending.Pop();
            if (pid != root)
            {
                try
                {
                    string argv0 = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0')[0];
                    // A QEMU on PATH (VDC_QEMU=qemu-system-x86_64) would be itself argv[0].
                    if (argv0.Contains("ld-linux", StringComparison.Ordinal) || Path.GetFileName(argv0) == "qemu-system-x86_64")
                        return pid;
                }
                catch (IOException)
                {
                }
            }
            if (children.TryGetValue(pid, out var list)) foreach (int child in list) pending.Push(child);
        }
        return null;
    }

    [GeneratedRegex("VDC-RESULT: (.*)$")]
    private static partial Regex ResultLine();

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
        _process.Dispose();
    }
}
