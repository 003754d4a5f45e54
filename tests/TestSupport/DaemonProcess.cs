using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>A published binary from artifacts/bin run as a child process, its output kept line by line.</summary>
public sealed class ChildProcess : IDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _stdout = new();
    private readonly ConcurrentQueue<string> _stderr = new();
    private readonly SemaphoreSlim _lineArrived = new(0);
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ChildProcess(string binary, IEnumerable<string> arguments, IDictionary<string, string?>? environment = null)
    {
        string path = Path.Combine(BinDirectory(), binary);
        if (!File.Exists(path)) throw new InvalidOperationException($"{path} is missing: run ./build.sh");
        var start = new ProcessStartInfo(path)
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
    public bool HasExited => _process.HasExited;

    /// <summary>The repository's artifacts/bin, found from the test binaries' location.</summary>
    public static string BinDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "publish.list"))) return Path.Combine(dir.FullName, "artifacts", "bin");
        throw new InvalidOperationException("publish.list not found above " + AppContext.BaseDirectory);
    }

    private void OnLine(ConcurrentQueue<string> lines, TaskCompletionSource closed, string? line)
    {
        if (line is null) closed.TrySetResult();
        else lines.Enqueue(line);
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

    public void Signal(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    public string Output => $"stdout:\n{string.Join('\n', _stdout)}\nstderr:\n{string.Join('\n', _stderr)}";

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }
        // _lineArrived stays undisposed: the output reader threads may still signal it.
        _process.Dispose();
    }
}

/// <summary>The published daemon serving sockets in a private temporary directory.</summary>
public sealed class DaemonProcess : IDisposable
{
    private DaemonProcess(string directory, string prefix, int count, ChildProcess process)
    {
        Folder = directory;
        Prefix = prefix;
        Count = count;
        Process = process;
    }

    public string Folder { get; }
    public string Prefix { get; }
    public int Count { get; }
    public ChildProcess Process { get; }

    public string Socket(int index) => Prefix + index;

    public static string NewDirectory()
    {
        string directory = Path.Combine(Path.GetTempPath(), $"vdc-e2e-{Guid.NewGuid():N}"[..20]);
        System.IO.Directory.CreateDirectory(directory);
        return directory;
    }

    /// <summary>Starts the daemon with <c>-s DIR/can.sock -c count</c> plus <paramref name="extra"/>
    /// and waits until every socket listens.</summary>
    public static DaemonProcess Start(int count, string[]? extra = null, IDictionary<string, string?>? environment = null, string? directory = null)
    {
        directory ??= NewDirectory();
        string prefix = Path.Combine(directory, "can.sock");
        string[] arguments = ["-s", prefix, "-c", count.ToString(System.Globalization.CultureInfo.InvariantCulture), .. extra ?? []];
        var process = new ChildProcess("vhost-device-can", arguments, environment);
        var daemon = new DaemonProcess(directory, prefix, count, process);
        try
        {
            for (int i = 0; i < count; i++) process.WaitForLog($"listening on {Regex.Escape(daemon.Socket(i))} ");
        }
        catch
        {
            daemon.Dispose();
            throw;
        }
        return daemon;
    }

    public void Dispose()
    {
        Process.Dispose();
        try { System.IO.Directory.Delete(Folder, recursive: true); } catch (IOException) { }
    }
}
