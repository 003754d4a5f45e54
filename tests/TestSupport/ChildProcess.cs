using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace VhostDeviceCan.TestSupport;

/// <summary>A published binary from artifacts/bin run as a child process, its output kept line by
/// line: stdout and stderr apart, and both in arrival order in <see cref="Log"/>.</summary>
public sealed class ChildProcess : IDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _stdout = new();
    private readonly ConcurrentQueue<string> _stderr = new();
    private readonly SemaphoreSlim _lineArrived = new(0);
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _openStreams = 2;

    public ChildProcess(string binary, IEnumerable<string> arguments, IDictionary<string, string?>? environment = null)
    {
        // A published binary by name, or any program by its absolute path.
        var start = new ProcessStartInfo(Path.IsPathRooted(binary) ? binary : RepositoryPaths.Binary(binary))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        // A test host's own settings must not leak into the daemon's log level.
        start.Environment.Remove("RUST_LOG");
        if (environment is not null)
            foreach (var (key, value) in environment) start.Environment[key] = value;
        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) => OnLine(_stdout, _stdoutClosed, e.Data);
        _process.ErrorDataReceived += (_, e) => OnLine(_stderr, _stderrClosed, e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id => _process.Id;
    public IReadOnlyCollection<string> Stdout => _stdout;
    public IReadOnlyCollection<string> Stderr => _stderr;
    /// <summary>Both streams in the order their lines arrived, for waits that go on from a line index.</summary>
    public LineLog Log { get; } = new();
    public bool HasExited => _process.HasExited;

    private void OnLine(ConcurrentQueue<string> lines, TaskCompletionSource closed, string? line)
    {
        if (line is null)
        {
            closed.TrySetResult();
            if (Interlocked.Decrement(ref _openStreams) == 0) Log.Add(null);
        }
        else
        {
            lines.Enqueue(line);
            Log.Add(line);
        }
        _lineArrived.Release();
    }

    /// <summary>Waits for a stdout line matching <paramref name="pattern"/>; returns its match.</summary>
    public Match WaitForOutput(string pattern, TimeSpan? timeout = null) => WaitFor(_stdout, pattern, timeout ?? Timeout);

    /// <summary>Waits for a log line (the daemon logs to stderr) matching <paramref name="pattern"/>.</summary>
    public Match WaitForLog(string pattern, TimeSpan? timeout = null) => WaitFor(_stderr, pattern, timeout ?? Timeout);

    public Match WaitFor(IReadOnlyCollection<string> lines, string pattern, TimeSpan timeout)
    {
        var regex = new Regex(pattern);
        DateTime deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            foreach (string line in lines)
            {
                Match match = regex.Match(line);
                if (match.Success) return match;
            }
            TimeSpan left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || (!_lineArrived.Wait(left) && DateTime.UtcNow >= deadline))
                throw new TimeoutException($"no line matching '{pattern}'. Output:\n{Output}");
        }
    }

    /// <summary>Waits for the process to exit and its output to be read to the end; returns the exit status.</summary>
    public int WaitForExit(TimeSpan? timeout = null)
    {
        if (!_process.WaitForExit(timeout ?? Timeout)) throw new TimeoutException($"still running. Output:\n{Output}");
        Task.WaitAll([_stdoutClosed.Task, _stderrClosed.Task], Timeout);
        return _process.ExitCode;
    }

    /// <summary>Sends a signal by name (TERM, USR1, ...): .NET itself can only SIGKILL.</summary>
    public void Signal(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, Id.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        if (kill.ExitCode != 0) throw new InvalidOperationException($"kill -{signal} {Id} exited {kill.ExitCode}");
    }

    /// <summary>Open file descriptors of the process right now.</summary>
    public int FdCount => Directory.GetFileSystemEntries($"/proc/{Id}/fd").Length;

    /// <summary>Resident memory in KiB (VmRSS).</summary>
    public long RssKiB
    {
        get
        {
            foreach (string line in File.ReadLines($"/proc/{Id}/status"))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
            throw new InvalidOperationException("no VmRSS line");
        }
    }

    public string Output => $"stdout:\n{string.Join('\n', _stdout)}\nstderr:\n{string.Join('\n', _stderr)}";

    /// <summary>SIGTERM, then SIGKILL if it has not exited after <paramref name="grace"/>.</summary>
    public void Terminate(TimeSpan grace)
    {
        if (_process.HasExited) return;
        try
        {
            Signal("TERM");
        }
        catch (InvalidOperationException)
        {
            // Exited between the check and the signal.
        }
        if (!_process.WaitForExit(grace)) _process.Kill();
        _process.WaitForExit();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            // The whole tree: a shell pipeline's commands hold its output pipes open, and the wait
            // below lasts until those close.
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
        // _lineArrived stays undisposed: the output reader threads may still signal it.
        _process.Dispose();
    }
}
