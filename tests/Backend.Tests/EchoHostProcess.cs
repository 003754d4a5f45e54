using System.Collections.Concurrent;
using System.Diagnostics;
using Xunit.Sdk;

namespace VhostDeviceCan.Backend.Tests;

/// <summary>
/// The published NativeAOT echo-device-host as its own process: started, waited for until it
/// prints "ready", and stopped with SIGTERM, after which it must exit 0 and remove its socket.
/// </summary>
public sealed class EchoHostProcess : IEchoBackend
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly ManualResetEventSlim _ready = new();
    private bool _terminated;

    public EchoHostProcess(int queues = 2)
    {
        string binary = Path.Combine(RepositoryPaths.Root(), "artifacts", "bin", "echo-device-host");
        if (!File.Exists(binary))
            throw new XunitException($"{binary} is missing: run ./build.sh to publish the echo device host.");
        SocketPath = TestPaths.NewSocketPath();
        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(SocketPath);
        start.ArgumentList.Add(queues.ToString(System.Globalization.CultureInfo.InvariantCulture));
        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        if (!_ready.Wait(StartTimeout))
        {
            Dispose();
            throw new XunitException($"echo-device-host did not print 'ready' within {StartTimeout}:\n{Output}");
        }
    }

    public string SocketPath { get; }
    public int Pid => _process.Id;

    /// <summary>Everything the host printed so far (its log).</summary>
    public string Output => string.Join(Environment.NewLine, _output.TakeLast(60));

    public int CountFds() => Directory.GetFiles($"/proc/{Pid}/fd").Length;

    /// <summary>Resident set size in KiB, from /proc/PID/status.</summary>
    public long RssKiB()
    {
        foreach (string line in File.ReadLines($"/proc/{Pid}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        throw new InvalidOperationException("no VmRSS line");
    }

    /// <summary>Sends SIGTERM and waits for the exit; returns the exit code.</summary>
    public int Terminate()
    {
        _terminated = true;
        // .NET can only SIGKILL a process; SIGTERM is what systemd and the tests' contract use.
        using (var kill = Process.Start("kill", ["-TERM", Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            kill.WaitForExit();
        if (!_process.WaitForExit(TimeSpan.FromSeconds(10)))
            throw new XunitException($"echo-device-host did not exit on SIGTERM:\n{Output}");
        _process.WaitForExit(); // flushes the redirected output
        return _process.ExitCode;
    }

    private void OnLine(string? line)
    {
        if (line is null) return;
        _output.Enqueue(line);
        while (_output.Count > 4000) _output.TryDequeue(out _);
        if (line == "ready") _ready.Set();
    }

    public void Dispose()
    {
        if (!_terminated && !_process.HasExited)
        {
            try
            {
                Terminate();
            }
            catch (XunitException)
            {
                _process.Kill();
            }
        }
        _process.Dispose();
        _ready.Dispose();
        File.Delete(SocketPath);
    }
}
