using System.Globalization;
using System.Text.RegularExpressions;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>The devices of one virtual bus share one event-loop thread named after the bus, and
/// each bus has its own; its name (what top -H, perf and gdb show) tells it apart from the others.
/// (A host interface's device keeps a thread of its own, canN after its socket's index.)</summary>
public sealed partial class ThreadNameTests
{
    [Fact]
    public void Twelve_sockets_on_the_default_bus_share_one_loop_thread()
    {
        using var daemon = DaemonProcess.Start(12);
        AssertLoopThreads(daemon.Process.Id, ["vbus-default"]);
    }

    [Fact]
    public void Each_virtual_bus_has_its_own_loop_thread_its_name_cut_to_15_bytes()
    {
        using var daemon = DaemonProcess.Start(4, ["-d", "vbus:a vbus:powertrain-network vbus:a vbus:powertrain-network"]);
        AssertLoopThreads(daemon.Process.Id, ["vbus-a", "vbus-powertrain"]);
    }

    [Fact]
    public void Inherited_sockets_have_distinct_loop_thread_names()
    {
        const int Count = 11;
        string directory = DaemonProcess.NewDirectory();
        var sockets = new List<UnixSocket>();
        try
        {
            var arguments = new List<string>();
            for (int i = 0; i < Count; i++)
            {
                var socket = UnixSocket.Listen(Path.Combine(directory, $"s{i}.sock"));
                sockets.Add(socket);
                Assert.Equal(0, Libc.fcntl(socket.Fd, Libc.F_SETFD, 0));
                arguments.AddRange(["--socket-fd", socket.Fd.ToString(CultureInfo.InvariantCulture)]);
            }
            using var daemon = new ChildProcess("vhost-device-can", arguments);
            for (int i = 0; i < Count; i++) daemon.WaitForLog($"listening on {Regex.Escape(Path.Combine(directory, $"s{i}.sock"))} ");
            AssertLoopThreads(daemon.Id, ["vbus-default"]);
        }
        finally
        {
            foreach (var socket in sockets) socket.Dispose();
            Directory.Delete(directory, recursive: true);
        }
    }

    private static void AssertLoopThreads(int pid, string[] expected)
    {
        // A thread takes its name as it starts, which may be a moment after the socket listens.
        string[] names = LoopThreadNames(pid);
        for (DateTime deadline = DateTime.UtcNow + ChildProcess.Timeout; names.Length < expected.Length && DateTime.UtcNow < deadline; names = LoopThreadNames(pid))
            Thread.Sleep(20);
        Assert.Equal(expected.Order(), names.Order());
    }

    private static string[] LoopThreadNames(int pid) => [.. Directory.GetDirectories($"/proc/{pid}/task")
        .Select(task => File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n'))
        .Where(name => LoopThreadName().IsMatch(name))];

    [GeneratedRegex(@"^(can\d+|vbus-.*)$")]
    private static partial Regex LoopThreadName();
}
