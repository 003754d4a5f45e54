using System.Runtime.Versioning;
using System.Text;
using System.Text.Json;
using VhostDeviceCan.Can;
using VhostDeviceCan.Interop;
using static VhostDeviceCan.Daemon.Tests.ReplayTests;
using static VhostDeviceCan.Daemon.Tests.Traffic;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>Replays that must be refused, stopped or bounded, and never leak.</summary>
[SupportedOSPlatform("linux")]
public sealed class ReplayHostileTests
{
    private static UnixSocket Connect(DaemonProcess daemon)
    {
        var socket = UnixSocket.Connect(daemon.Control);
        socket.SetTimeouts(TimeSpan.FromSeconds(10));
        return socket;
    }

    private static JsonElement ReadReply(UnixSocket socket)
    {
        var line = new List<byte>();
        var one = new byte[1];
        while (socket.Receive(one, null) == 1 && one[0] != '\n') line.Add(one[0]);
        return JsonDocument.Parse(line.ToArray()).RootElement.Clone();
    }

    private static bool Closed(UnixSocket socket)
    {
        try
        {
            return socket.Receive(new byte[1], null) == 0;
        }
        catch (SyscallException e) when (e.ErrorNumber == Errno.ECONNRESET)
        {
            return true;
        }
    }

    private static string Code(JsonElement reply) => reply.GetProperty("error").GetProperty("code").GetString()!;

    [Fact]
    public void Logs_that_are_no_candump_log_are_refused_before_a_frame_is_sent_naming_the_line()
    {
        string folder = DaemonProcess.NewDirectory();
        using var daemon = DaemonProcess.Start(1);
        using var a = Started(daemon.Socket(0));
        string Write(string name, byte[] content)
        {
            string path = Path.Combine(folder, name);
            File.WriteAllBytes(path, content);
            return path;
        }
        (string Path, string Reason)[] cases =
        [
            (Write("bad.log", "(1700000000.000000) can0 123#11\n(1700000000.001000) can0 123#22\n(1700000000.002000) can0 12#33\n"u8.ToArray()),
                "line 3: ID '12' must be 3 hex digits"),
            (Write("stamp.log", "(17000x0000.000000) can0 123#11\n"u8.ToArray()), "line 1: the time stamp must be"),
            (Write("garbage.log", [.. Enumerable.Range(0, 5000).Select(i => (byte)(i * 37 % 251))]), "not a candump log: line"),
            (Write("empty.log", []), "the log holds no frame"),
            (Write("other.log", "(1700000000.000000) can1 123#11\n"u8.ToArray()), "no frame of interface 'can0'"),
        ];
        foreach (var (path, reason) in cases)
        {
            string[] extra = path.EndsWith("other.log", StringComparison.Ordinal) ? ["--interface", "can0"] : [];
            ToolResult result = Ctl(daemon, ["replay", "vbus:default", path, .. extra]);
            Assert.True(result.ExitCode == 1, result.ToString());
            Assert.Contains(reason, result.Stderr);
            Assert.Contains("(bad-argument)", result.Stderr);
        }
        Assert.True(ReceivesNothing(a));
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void File_descriptors_that_are_no_log_or_ride_on_other_requests_are_closed_and_refused()
    {
        string folder = DaemonProcess.NewDirectory();
        string log = WriteLog(folder, [CanFrame.Classic(0x123, false, [1])], _ => 0);
        using var daemon = DaemonProcess.Start(1);
        using var a = Started(daemon.Socket(0));
        int fdsBefore = daemon.FdCount;
        string replay = "{\"v\":1,\"cmd\":\"replay\",\"target\":\"vbus:default\"}\n";

        using (var client = Connect(daemon))
        using (var directory = new SafeDirectory(folder))
        {
            client.Send(Encoding.UTF8.GetBytes(replay), [directory.Fd]);
            JsonElement reply = ReadReply(client);
            Assert.Equal("bad-argument", Code(reply));
            Assert.Contains("no regular file", reply.GetProperty("error").GetProperty("message").GetString());
            // The connection serves on.
            client.Send("{\"v\":1,\"cmd\":\"replays\"}\n"u8);
            Assert.True(ReadReply(client).GetProperty("ok").GetBoolean());
        }
        using (var client = Connect(daemon))
        using (var file = File.OpenHandle(log))
        {
            client.Send("{\"v\":1,\"cmd\":\"status\"}\n"u8, [(int)file.DangerousGetHandle()]);
            Assert.Equal("fds-refused", Code(ReadReply(client)));
            Assert.True(Closed(client));
        }
        using (var client = Connect(daemon))
        using (var file = File.OpenHandle(log))
        {
            int fd = (int)file.DangerousGetHandle();
            client.Send(Encoding.UTF8.GetBytes(replay), [fd, fd]);
            Assert.Equal("fds-refused", Code(ReadReply(client)));
            Assert.True(Closed(client));
        }
        using (var client = Connect(daemon))
        {
            client.Send(Encoding.UTF8.GetBytes(replay));
            Assert.Equal("bad-request", Code(ReadReply(client)));
        }
        using (var client = Connect(daemon))
        using (var writeOnly = File.OpenHandle(log, FileMode.Open, FileAccess.Write))
        {
            client.Send(Encoding.UTF8.GetBytes(replay), [(int)writeOnly.DangerousGetHandle()]);
            JsonElement reply = ReadReply(client);
            Assert.Equal("bad-argument", Code(reply));
            Assert.Contains("cannot be read", reply.GetProperty("error").GetProperty("message").GetString());
        }
        Assert.True(ReceivesNothing(a));
        Assert.True(SpinWait.SpinUntil(() => daemon.FdCount <= fdsBefore, TimeSpan.FromSeconds(5)), $"the daemon holds {daemon.FdCount} fds, {fdsBefore} before");
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void A_client_that_goes_away_mid_replay_ends_it_and_its_member_leaves_the_bus_without_a_leak()
    {
        string folder = DaemonProcess.NewDirectory();
        // Ten minutes of frames, 10 ms apart: it runs until stopped.
        string log = WriteLog(folder, [.. Enumerable.Range(0, 60_000).Select(i => CanFrame.Classic(0x100, false, [(byte)i]))], i => i * 10.0);
        using var daemon = DaemonProcess.Start(1);
        using var a = Started(daemon.Socket(0));
        int fdsBefore = daemon.FdCount;
        using (var client = Connect(daemon))
        using (var file = File.OpenHandle(log))
        {
            client.Send("{\"v\":1,\"cmd\":\"replay\",\"target\":\"vbus:default\"}\n"u8, [(int)file.DangerousGetHandle()]);
            Assert.Equal(CanFrame.Classic(0x100, false, [0]), ReceiveOne(a));
            JsonElement running = Assert.Single(ControlTests.Json(daemon, "replays").GetProperty("replays").EnumerateArray());
            Assert.True(running.GetProperty("running").GetBoolean());
            Assert.Equal(60_000, running.GetProperty("frames_per_pass").GetInt64());
            Assert.Equal(1, ControlTests.Json(daemon, "status").GetProperty("buses")[0].GetProperty("host_nodes").GetInt32());
        }
        Assert.True(SpinWait.SpinUntil(() => ControlTests.Json(daemon, "replays").GetProperty("replays").GetArrayLength() == 0, Patience));
        Assert.Equal(0, ControlTests.Json(daemon, "status").GetProperty("buses")[0].GetProperty("host_nodes").GetInt32());
        Assert.True(SpinWait.SpinUntil(() => daemon.FdCount <= fdsBefore, TimeSpan.FromSeconds(5)), $"the daemon holds {daemon.FdCount} fds, {fdsBefore} before");
        // Nothing more arrives once it ended (what was on its way is drained first).
        while (a.Receive(new CanFrame[64], Quiet) > 0) { }
        Assert.True(ReceivesNothing(a));
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void At_most_eight_replays_run_at_once_and_replay_stop_ends_each()
    {
        string folder = DaemonProcess.NewDirectory();
        string log = WriteLog(folder, [.. Enumerable.Range(0, 1000).Select(i => CanFrame.Classic(0x200, false, [(byte)i]))], i => i * 100.0);
        using var daemon = DaemonProcess.Start(1);
        using var a = Started(daemon.Socket(0));
        int fdsBefore = daemon.FdCount;
        var ids = new List<int>();
        for (int i = 0; i < 8; i++)
            ids.Add(JsonDocument.Parse(Succeed(daemon, "--json", "replay", "vbus:default", log, "--detach").Stdout).RootElement.GetProperty("result").GetProperty("id").GetInt32());
        ToolResult ninth = Ctl(daemon, "replay", "vbus:default", log, "--detach");
        Assert.True(ninth.ExitCode == 1, ninth.ToString());
        Assert.Contains("(too-many-replays)", ninth.Stderr);
        Assert.Equal(8, ControlTests.Json(daemon, "replays").GetProperty("replays").GetArrayLength());
        foreach (int id in ids)
        {
            JsonElement stopped = ControlTests.Json(daemon, "replay-stop", id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.False(stopped.GetProperty("running").GetBoolean());
            Assert.Equal("stopped", stopped.GetProperty("result").GetString());
        }
        Assert.Equal(0, ControlTests.Json(daemon, "replays").GetProperty("replays").GetArrayLength());
        ToolResult unknown = Ctl(daemon, "replay-stop", "99");
        Assert.Contains("(no-such-replay)", unknown.Stderr);
        Assert.True(SpinWait.SpinUntil(() => daemon.FdCount <= fdsBefore, TimeSpan.FromSeconds(5)), $"the daemon holds {daemon.FdCount} fds, {fdsBefore} before");
        Directory.Delete(folder, recursive: true);
    }

    /// <summary>A directory opened read-only, as an fd to pass.</summary>
    private sealed class SafeDirectory(string path) : IDisposable
    {
        private readonly FileDescriptor _descriptor = FileDescriptor.Check(Libc.open(path, 0x10000 /* O_DIRECTORY */ | Libc.O_CLOEXEC, 0), "open");
        public int Fd => _descriptor.Value;
        public void Dispose() => _descriptor.Dispose();
    }
}
