using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>--socket-mode and --socket-group: a VMM running as another user connects, others cannot.</summary>
[SupportedOSPlatform("linux")]
public sealed class SocketAccessTests
{
    /// <summary>The unprivileged user the other-user checks run as.</summary>
    private const string Nobody = "65534";

    /// <summary>The gid of group "daemon", a group that is not root's, from /etc/group itself.</summary>
    private static string DaemonGid() =>
        File.ReadLines("/etc/group").First(l => l.StartsWith("daemon:", StringComparison.Ordinal)).Split(':')[2];

    // SAFETY: lstat writes one StatBuffer into the local it is given.
    private static unsafe (uint Mode, uint Gid) Stat(string path)
    {
        Libc.StatBuffer stat = default;
        Assert.Equal(0, Libc.lstat(path, &stat));
        Assert.Equal(Libc.S_IFSOCK, stat.Mode & Libc.S_IFMT);
        return (stat.Mode & 0xFFF, stat.Gid);
    }

    /// <summary>vhost-can-sim info as uid 65534 with only the group <paramref name="gid"/>, as a
    /// VMM of another user would connect; its exit status.</summary>
    private static int InfoAs(string gid, string socket, out string output) =>
        RunAs(gid, [RepositoryPaths.Binary("vhost-can-sim"), "info", socket], out output);

    /// <summary>Runs a command as uid 65534 with only the group <paramref name="gid"/> (setpriv, util-linux).</summary>
    private static int RunAs(string gid, string[] command, out string output)
    {
        var start = new ProcessStartInfo("setpriv")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in (string[])[$"--reuid={Nobody}", $"--regid={gid}", "--clear-groups", .. command])
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(), stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(20)), $"{command[0]} did not end");
        output = stdout.Result + stderr.Result;
        return process.ExitCode;
    }

    [Fact]
    public void A_user_in_the_socket_group_connects_and_one_outside_it_is_refused()
    {
        string directory = DaemonProcess.NewDirectory();
        // The guest's user must be able to reach the socket; the directory is the test's own.
        File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        string gid = DaemonGid();
        using var daemon = DaemonProcess.Start(2, ["--socket-mode", "0660", "--socket-group", "daemon"], directory: directory);
        daemon.Process.WaitForLog($"socket files have mode 0660, group {gid}");

        for (int i = 0; i < 2; i++)
            Assert.Equal((0b110_110_000u, uint.Parse(gid, CultureInfo.InvariantCulture)), Stat(daemon.Socket(i)));

        Assert.True(InfoAs(gid, daemon.Socket(0), out string output) == 0, output);
        Assert.Equal(3, InfoAs(Nobody, daemon.Socket(1), out output));
        Assert.Contains("Permission denied (EACCES)", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_the_options_the_umask_decides_as_before()
    {
        using var daemon = DaemonProcess.Start(1);
        // The test host's umask is 022: bind leaves 0755, owned by root's group.
        Assert.Equal((0b111_101_101u, 0u), Stat(daemon.Socket(0)));
        Assert.Equal(3, InfoAs(DaemonGid(), daemon.Socket(0), out _));
    }

    [Theory]
    [InlineData("--socket-group", "1", 0b110_110_000u)]
    [InlineData("--socket-mode", "600", 0b110_000_000u)]
    [InlineData("--socket-mode", "0777", 0b111_111_111u)]
    public void One_option_alone_sets_what_it_names(string option, string value, uint mode)
    {
        using var daemon = DaemonProcess.Start(1, [option, value]);
        (uint actualMode, uint gid) = Stat(daemon.Socket(0));
        Assert.Equal(Convert.ToString(mode, 8), Convert.ToString(actualMode, 8));
        Assert.Equal(option == "--socket-group" ? 1u : 0u, gid);
    }

    [Fact]
    public void A_daemon_that_may_not_give_files_to_the_group_stops_with_one_line_and_leaves_nothing()
    {
        string directory = DaemonProcess.NewDirectory();
        File.SetUnixFileMode(directory, (UnixFileMode)0b111_111_111);
        string prefix = Path.Combine(directory, "can.sock");
        Assert.Equal(1, RunAs(Nobody, [RepositoryPaths.Binary("vhost-device-can"), "-s", prefix, "--socket-group", "daemon"], out string output));
        string line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("vhost-device-can: error: ", line, StringComparison.Ordinal);
        Assert.Contains("only root or a member of the group may", line, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(directory));
        Directory.Delete(directory);
    }

    public static TheoryData<string[], string> BadInputs => new()
    {
        { ["--socket-mode", "0888"], "'0888' is not an octal mode" },
        { ["--socket-mode", "rw-rw----"], "'rw-rw----' is not an octal mode" },
        { ["--socket-mode", ""], "is not an octal mode" },
        { ["--socket-mode", "1777"], "'1777' is above 0777" },
        { ["--socket-mode", "07777"], "'07777' is above 0777" },
        { ["--socket-group", "no-such-group-vdc"], "--socket-group 'no-such-group-vdc': no group named 'no-such-group-vdc'" },
        { ["--socket-group", "4294967295"], "--socket-group '4294967295': no group named" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Bad_values_print_one_line_naming_them_and_exit_2(string[] options, string named)
    {
        string directory = DaemonProcess.NewDirectory();
        using var daemon = new ChildProcess("vhost-device-can", ["-s", Path.Combine(directory, "can.sock"), .. options]);
        Assert.Equal(2, daemon.WaitForExit());
        string line = Assert.Single(daemon.Stderr);
        Assert.StartsWith("vhost-device-can: error: ", line);
        Assert.Contains(named, line, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(directory));
        Directory.Delete(directory);
    }

    [Theory]
    [InlineData("--socket-mode", "0660")]
    [InlineData("--socket-group", "daemon")]
    public void With_inherited_sockets_they_are_refused_since_the_creator_sets_them(string option, string value)
    {
        using var daemon = new ChildProcess("vhost-device-can", ["--socket-fd", "3", option, value]);
        Assert.Equal(2, daemon.WaitForExit());
        string line = Assert.Single(daemon.Stderr);
        Assert.Contains("with --socket-fd the socket's creator sets them (systemd: SocketMode=, SocketGroup=)", line, StringComparison.Ordinal);
    }
}
