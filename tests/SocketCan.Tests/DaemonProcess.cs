using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Xunit.Sdk;

namespace VhostDeviceCan.SocketCan.Tests;

/// <summary>
/// The published NativeAOT vhost-device-can, started as an operator would
/// (<c>-s DIR/can.sock -c 2 -d "vcan0 vcan1"</c>), ready once it logged one "listening on" line
/// per socket, stopped with SIGTERM.
/// </summary>
public sealed class DaemonProcess : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly CountdownEvent _listening;
    private readonly string _directory;

    public DaemonProcess(params string[] interfaces)
    {
        Vcan.RequireAfCan();
        string binary = Path.Combine(RepositoryRoot(), "artifacts", "bin", "vhost-device-can");
        if (!File.Exists(binary)) throw new XunitException($"{binary} is missing: run ./build.sh to publish the daemon.");
        _directory = Directory.CreateTempSubdirectory("vdc-").FullName;
        _listening = new CountdownEvent(interfaces.Length);
        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in new[] { "-s", Path.Combine(_directory, "can.sock"), "-c", interfaces.Length.ToString(CultureInfo.InvariantCulture), "-d", string.Join(' ', interfaces) })
            start.ArgumentList.Add(argument);
        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        if (!_listening.Wait(StartTimeout))
        {
            Dispose();
            throw new XunitException($"vhost-device-can did not listen within {StartTimeout}:\n{Output}");
        }
    }

    public int Pid => _process.Id;

    /// <summary>The vhost-user socket of device <paramref name="index"/>.</summary>
    public string Socket(int index) => Path.Combine(_directory, $"can.sock{index}");

    public string Output => string.Join(Environment.NewLine, _output.TakeLast(80));

    public bool HasExited => _process.HasExited;

    private void OnLine(string? line)
    {
        if (line is null) return;
        _output.Enqueue(line);
        while (_output.Count > 2000) _output.TryDequeue(out _);
        if (line.Contains("listening on", StringComparison.Ordinal) && !_listening.IsSet) _listening.Signal();
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "publish.list"))) return dir.FullName;
        throw new InvalidOperationException("publish.list not found above " + AppContext.BaseDirectory);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            // .NET can only SIGKILL; the daemon's contract is a clean exit on SIGTERM.
            Vcan.TryRun("kill", "-TERM", _process.Id.ToString(CultureInfo.InvariantCulture));
            if (!_process.WaitForExit(TimeSpan.FromSeconds(10))) _process.Kill();
        }
        _process.WaitForExit();
        _process.Dispose();
        _listening.Dispose();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }
}
