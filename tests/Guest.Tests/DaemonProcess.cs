using System.Diagnostics;
using System.Text.RegularExpressions;

namespace VhostDeviceCan.Guest.Tests;

/// <summary>The published vhost-device-can, started on fresh sockets in a private directory,
/// with its log captured line by line.</summary>
internal sealed partial class DaemonProcess : IDisposable
{
    private readonly Process _process;
    private readonly string _directory;

    public LineLog Log { get; } = new();
    public int Pid => _process.Id;
    public string SocketPath(int index) => Path.Combine(_directory, $"can.sock{index}");

    private DaemonProcess(int sockets, string extraArguments)
    {
        _directory = Directory.CreateTempSubdirectory("vdc-guest-").FullName;
        var start = new ProcessStartInfo(GuestEnvironment.Daemon,
            $"-s {Path.Combine(_directory, "can.sock")} -c {sockets} -l debug {extraArguments}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) => Log.Add(e.Data);
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Log.Add(e.Data); };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Starts the daemon and returns once every socket listens (its log says so).</summary>
    public static DaemonProcess Start(int sockets = 1, string extraArguments = "")
    {
        var daemon = new DaemonProcess(sockets, extraArguments);
        int from = 0;
        for (int i = 0; i < sockets; i++)
        {
            var hit = daemon.Log.WaitFor(new Regex($"listening on .*can\\.sock{i} "), TimeSpan.FromSeconds(30), 0);
            if (hit is null)
            {
                string log = daemon.Log.Tail(40);
                daemon.Dispose();
                throw new InvalidOperationException($"the daemon did not listen on socket {i}:\n{log}");
            }
            from = Math.Max(from, hit.Value.Index);
        }
        return daemon;
    }

    public void Signal(int signal) => Native.Kill(_process.Id, signal);

    /// <summary>Open file descriptors of the daemon right now.</summary>
    public int FdCount => Directory.GetFileSystemEntries($"/proc/{Pid}/fd").Length;

    /// <summary>Resident memory in KiB (VmRSS).</summary>
    public long RssKiB
    {
        get
        {
            foreach (string line in File.ReadLines($"/proc/{Pid}/status"))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    return long.Parse(RssNumber().Match(line).Value, System.Globalization.CultureInfo.InvariantCulture);
            throw new InvalidOperationException("no VmRSS");
        }
    }

    [GeneratedRegex("[0-9]+")]
    private static partial Regex RssNumber();

    /// <summary>SIGTERM and wait: the daemon settles its sessions and removes its sockets.</summary>
    public void Dispose()
    {
        if (!_process.HasExited)
        {
            Signal(Native.SIGTERM);
            if (!_process.WaitForExit(TimeSpan.FromSeconds(20))) _process.Kill();
        }
        _process.WaitForExit();
        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
