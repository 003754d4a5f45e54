using System.Globalization;
using System.Text.RegularExpressions;

namespace VhostDeviceCan.TestSupport;

/// <summary>
/// The published vhost-device-can serving <c>-s DIR/can.sock -c COUNT</c> in a private temporary
/// directory, ready once it logged one "listening on" line per socket; disposed with SIGTERM, as
/// an operator or systemd stops it, and SIGKILL only if that does not end it.
/// </summary>
public sealed class DaemonProcess : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(20);

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

    public int Pid => Process.Id;
    public bool HasExited => Process.HasExited;
    /// <summary>Everything the daemon printed, both streams in arrival order.</summary>
    public LineLog Log => Process.Log;
    public string Output => Process.Output;
    public int FdCount => Process.FdCount;
    public long RssKiB => Process.RssKiB;

    /// <summary>The control socket the daemon serves by default: the prefix with ".ctl".</summary>
    public string Control => Prefix + ".ctl";

    /// <summary>The vhost-user socket of device <paramref name="index"/>.</summary>
    public string Socket(int index) => Prefix + index.ToString(CultureInfo.InvariantCulture);

    public void Signal(string signal) => Process.Signal(signal);

    public static string NewDirectory() => Directory.CreateTempSubdirectory("vdc-").FullName;

    /// <summary>Starts the daemon with <c>-s DIR/can.sock -c count</c> plus <paramref name="extra"/>
    /// and waits until every socket listens.</summary>
    public static DaemonProcess Start(int count, IEnumerable<string>? extra = null, IDictionary<string, string?>? environment = null,
        string? directory = null)
    {
        directory ??= NewDirectory();
        string prefix = Path.Combine(directory, "can.sock");
        string[] arguments = ["-s", prefix, "-c", count.ToString(CultureInfo.InvariantCulture), .. extra ?? []];
        var process = new ChildProcess("vhost-device-can", arguments, environment);
        var daemon = new DaemonProcess(directory, prefix, count, process);
        try
        {
            for (int i = 0; i < count; i++) process.WaitForLog($"listening on {Regex.Escape(daemon.Socket(i))} ", StartTimeout);
        }
        catch
        {
            daemon.Dispose();
            throw;
        }
        return daemon;
    }

    /// <summary>SIGTERM and wait: the daemon settles its sessions and removes its sockets.</summary>
    public void Dispose()
    {
        Process.Terminate(StopTimeout);
        Process.Dispose();
        try { Directory.Delete(Folder, recursive: true); } catch (IOException) { }
    }
}
