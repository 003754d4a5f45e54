using System.Globalization;
using System.Text.RegularExpressions;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>Each socket's event loop runs on a thread of its own whose name (what top -H, perf and
/// gdb show) tells it apart from every other socket's.</summary>
public sealed partial class ThreadNameTests
{
    [Fact]
    public void Twelve_sockets_have_twelve_distinct_loop_thread_names()
    {
        using var daemon = DaemonProcess.Start(12);
        AssertDistinctLoopThreads(daemon.Process.Id, 12);
    }

    [Fact]
    public void Inherited_sockets_have_distinct_loop_thread_names()
    {
        // Eleven fds: at least two of them end in the same digit.
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
            AssertDistinctLoopThreads(daemon.Id, Count);
        }
        finally
        {
            foreach (var socket in sockets) socket.Dispose();
            Directory.Delete(directory, recursive: true);
        }
    }

    private static void AssertDistinctLoopThreads(int pid, int count)
    {
        // A thread takes its name as it starts, which may be a moment after the socket listens.
        string[] names = LoopThreadNames(pid);
        for (DateTime deadline = DateTime.UtcNow + ChildProcess.Timeout; names.Length < count && DateTime.UtcNow < deadline; names = LoopThreadNames(pid))
            Thread.Sleep(20);
        Assert.True(names.Length == count, $"{names.Length} loop threads for {count} sockets: {string.Join(' ', names)}");
        Assert.True(names.Distinct().Count() == count, $"loop thread names repeat: {string.Join(' ', names.Order())}");
    }

    private static string[] LoopThreadNames(int pid) => [.. Directory.GetDirectories($"/proc/{pid}/task")
        .Select(task => File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n'))
        .Where(name => LoopThreadName().IsMatch(name))];

    [GeneratedRegex(@"^can\d+$")]
    private static partial Regex LoopThreadName();
}
