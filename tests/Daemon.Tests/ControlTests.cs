using System.Runtime.Versioning;
using System.Text.Json;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using VhostDeviceCan.Interop;
using VhostDeviceCan.VirtioCanWire;
using static VhostDeviceCan.Daemon.Tests.Traffic;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>The control socket through the published vhost-can-ctl, against the published daemon
/// with two simulated guests on its virtual bus.</summary>
[SupportedOSPlatform("linux")]
public sealed class ControlTests
{
    private const int Refused = 1, Usage = 2, Unreachable = 3;

    internal static ToolResult Ctl(params string[] arguments) =>
        Tool.Run(RepositoryPaths.Binary("vhost-can-ctl"), arguments, timeout: TimeSpan.FromSeconds(30));

    private static ToolResult Succeed(params string[] arguments)
    {
        ToolResult result = Ctl(arguments);
        Assert.True(result.ExitCode == 0, result.ToString());
        return result;
    }

    internal static JsonElement Json(DaemonProcess daemon, params string[] command)
    {
        ToolResult result = Succeed(["-C", daemon.Control, "--json", .. command]);
        JsonElement reply = JsonDocument.Parse(result.Stdout).RootElement.Clone();
        Assert.True(reply.GetProperty("ok").GetBoolean(), result.ToString());
        return reply.GetProperty("result");
    }


    /// <summary>Up to <paramref name="count"/> frames, waiting at most <see cref="Patience"/> in all.</summary>
    private static List<CanFrame> ReceiveFrames(VirtioCanGuest guest, int count)
    {
        var frames = new List<CanFrame>();
        var buffer = new CanFrame[64];
        DateTime deadline = DateTime.UtcNow + Patience;
        while (frames.Count < count && DateTime.UtcNow < deadline)
            frames.AddRange(buffer[..guest.Receive(buffer, TimeSpan.FromMilliseconds(500))]);
        return frames;
    }

    [Fact]
    public void Status_lists_both_guests_with_their_front_end_features_and_counters_and_the_bus()
    {
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(CanFrame.Classic(0x123, false, [1, 2])));
        Assert.Single(ReceiveFrames(b, 1));

        JsonElement status = Json(daemon, "status");
        Assert.Equal(1, status.GetProperty("protocol").GetInt32());
        Assert.Equal("0.1.0", status.GetProperty("version").GetString());
        JsonElement[] guests = [.. status.GetProperty("guests").EnumerateArray()];
        Assert.Equal(2, guests.Length);
        for (int i = 0; i < 2; i++)
        {
            JsonElement guest = guests[i];
            Assert.Equal(i, guest.GetProperty("index").GetInt32());
            Assert.Equal(daemon.Socket(i), guest.GetProperty("socket").GetString());
            Assert.Equal("vbus:default", guest.GetProperty("device").GetString());
            Assert.True(guest.GetProperty("connected").GetBoolean());
            // The simulated guests run inside this test process: it is their front-end.
            Assert.Equal(Environment.ProcessId, guest.GetProperty("frontend").GetProperty("pid").GetInt32());
            Assert.Contains("CAN_FD", guest.GetProperty("features").EnumerateArray().Select(f => f.GetString()));
            Assert.Equal("started", guest.GetProperty("controller").GetString());
        }
        Assert.Equal(1, guests[0].GetProperty("counters").GetProperty("tx_frames").GetInt64());
        Assert.Equal(1, guests[1].GetProperty("counters").GetProperty("rx_frames").GetInt64());
        JsonElement bus = Assert.Single(status.GetProperty("buses").EnumerateArray());
        Assert.Equal(("default", 2), (bus.GetProperty("name").GetString(), bus.GetProperty("members").GetInt32()));
        Assert.Equal([0, 1], bus.GetProperty("guests").EnumerateArray().Select(g => g.GetInt32()));

        string text = Succeed("-C", daemon.Control, "status").Stdout;
        Assert.Contains($"guest 0  {daemon.Socket(0)}  on vbus:default", text);
        Assert.Contains($"guest 1  {daemon.Socket(1)}  on vbus:default", text);
        Assert.Contains($"front-end: pid {Environment.ProcessId} (", text);
        Assert.Contains("controller: started; bus: active; features: CAN_CLASSIC CAN_FD", text);
        Assert.Contains("bus vbus:default: 2 members (guest 0, guest 1)", text);
    }

    [Fact]
    public void Filters_changed_at_run_time_apply_to_the_next_frames()
    {
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(CanFrame.Classic(0x300, false, [1])));
        Assert.Equal(0x300u, ReceiveOne(b).Id);

        Assert.Contains("guest 0: tx filter 100-1FF", Succeed("-C", daemon.Control, "set-filter", "0", "tx", "100-1FF").Stdout);
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_NOT_OK, a.SendAndWait(CanFrame.Classic(0x300, false, [2])));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(CanFrame.Classic(0x100, false, [3])));
        Assert.Equal((0x100u, (byte)3), ReceiveOne(b) is var heard ? (heard.Id, heard.Data[0]) : default);
        Assert.True(ReceivesNothing(b), "b heard a frame a's new TX filter refused");

        // RX: b by its socket's path this time.
        Succeed("-C", daemon.Control, "set-filter", daemon.Socket(1), "rx", "180-1FF");
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(CanFrame.Classic(0x100, false, [4])));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(CanFrame.Classic(0x1A0, false, [5])));
        Assert.Equal((0x1A0u, (byte)5), ReceiveOne(b) is var kept ? (kept.Id, kept.Data[0]) : default);
        Assert.True(ReceivesNothing(b), "b heard a frame outside its new RX filter");

        Succeed("-C", daemon.Control, "set-filter", "1", "rx", "none");
        Succeed("-C", daemon.Control, "set-filter", "0", "tx", "none");
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(CanFrame.Classic(0x300, false, [6])));
        Assert.Equal(0x300u, ReceiveOne(b).Id);

        JsonElement guest0 = Json(daemon, "status").GetProperty("guests")[0];
        Assert.Equal(1, guest0.GetProperty("counters").GetProperty("tx_filtered").GetInt64());
        Assert.Equal(JsonValueKind.Null, guest0.GetProperty("tx_filter").ValueKind);
        // Who changed it is in the log, with its credentials (SO_PEERCRED).
        daemon.Process.WaitForLog(@"INFO  vhost-device-can: control: pid \d+ \(vhost-can-ctl\), uid \d+, gid \d+: .*""cmd"":""set-filter"",""guest"":""0"",""direction"":""tx"",""filter"":""100-1FF""");
        daemon.Process.WaitForLog(@"INFO  can\.sock0: TX filter now 100-1FF");
    }

    [Fact]
    public void A_rate_set_at_run_time_paces_the_guest_and_none_lifts_it()
    {
        const int frames = 60;
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        Assert.Contains("tx rate 200/10", Succeed("-C", daemon.Control, "set-rate", "0", "200/10").Stdout);
        Assert.Equal("200/10", Json(daemon, "status").GetProperty("guests")[0].GetProperty("tx_rate").GetString());

        TimeSpan Send()
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            for (int i = 0; i < frames; i++) Assert.True(a.TrySend(CanFrame.Classic((uint)i, false, [(byte)i])));
            a.Flush();
            List<CanFrame> heard = ReceiveFrames(b, frames);
            a.CollectTxCompletions();
            Assert.Equal(Enumerable.Range(0, frames).Select(i => (uint)i), heard.Select(f => f.Id));
            return clock.Elapsed;
        }

        // 50 frames past the burst at 200 frames/s: never sooner than 250 ms.
        TimeSpan paced = Send();
        Assert.True(paced >= TimeSpan.FromMilliseconds(230), $"{frames} frames in {paced.TotalMilliseconds:0} ms at 200/s");
        Succeed("-C", daemon.Control, "set-rate", "0", "none");
        TimeSpan free = Send();
        Assert.True(free < paced, $"unlimited took {free.TotalMilliseconds:0} ms, paced {paced.TotalMilliseconds:0} ms");
        Assert.True(Json(daemon, "status").GetProperty("guests")[0].GetProperty("counters").GetProperty("tx_throttled").GetInt64() > 0);
    }

    [Fact]
    public void Frames_injected_onto_the_bus_reach_every_guest_in_order()
    {
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        string[] sent = ["123#DEADBEEF", "1F334455#1122", "123#R4", "124##1000102030405060708090A0B", "125#05"];
        ToolResult result = Succeed(["-C", daemon.Control, "inject", "vbus:default", .. sent]);
        Assert.Equal("vbus:default: delivered 5 of 5 frame(s)\n", result.Stdout);
        foreach (VirtioCanGuest guest in new[] { a, b })
        {
            List<CanFrame> heard = ReceiveFrames(guest, sent.Length);
            // virtio-can carries no bit rate switch flag to the guest (docs/spec/virtio-can.md).
            Assert.Equal(sent.Select(text => Parse(text.Replace("##1", "##0", StringComparison.Ordinal))), heard);
            Assert.True(ReceivesNothing(guest));
        }
        // The host node left the bus again.
        Assert.Equal(2, Json(daemon, "status").GetProperty("buses")[0].GetProperty("members").GetInt32());
    }

    [Fact]
    public void Frames_injected_into_one_guest_reach_only_it_through_its_RX_filter()
    {
        using var daemon = DaemonProcess.Start(2, ["--rx-filter", "1=100-1FF"]);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        Assert.Equal("guest 1: delivered 2 of 3 frame(s): the rest were refused by the guest's RX filter, its full backlog or its negotiated features (see status counters)\n",
            Succeed("-C", daemon.Control, "inject", "1", "101#01", "300#02", "102#03").Stdout);
        Assert.Equal(["101#01", "102#03"], ReceiveFrames(b, 2).Select(f => f.ToString()));
        Assert.True(ReceivesNothing(b) && ReceivesNothing(a), "an injected frame reached a guest it was not for");
        JsonElement counters = Json(daemon, "status").GetProperty("guests")[1].GetProperty("counters");
        Assert.Equal((2L, 1L), (counters.GetProperty("rx_frames").GetInt64(), counters.GetProperty("rx_filtered").GetInt64()));
    }

    [Fact]
    public void Errors_are_one_line_with_a_distinct_exit_status()
    {
        using var daemon = DaemonProcess.Start(2);
        (string[] Arguments, int Status, string Says)[] cases =
        [
            (["request", "{\"v\":1,\"id\":1,\"cmd\":\"teleport\"}"], Refused, "unknown command 'teleport'"),
            (["set-filter", "5", "tx", "100"], Refused, "no guest 5"),
            (["inject", "vbus:nowhere", "123#00"], Refused, "no virtual bus 'nowhere'"),
            (["inject", "vbus:default", "12#00"], Usage, "frame '12#00'"),
            (["set-filter", "0", "tx", "XYZ"], Usage, "CAN ID rule 'XYZ'"),
            (["set-rate", "0", "0"], Usage, "rate '0'"),
            (["set-filter", "0", "sideways", "100"], Usage, "sideways"),
            (["launch"], Usage, "command"),
        ];
        foreach (var (arguments, status, says) in cases)
        {
            ToolResult result = Ctl(["-C", daemon.Control, .. arguments]);
            Assert.True(result.ExitCode == status, result.ToString());
            string line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("vhost-can-ctl: error: ", line);
            Assert.Contains(says, line);
        }
        ToolResult missing = Ctl("-C", Path.Combine(daemon.Folder, "nothing.ctl"), "status");
        Assert.Equal(Unreachable, missing.ExitCode);
        Assert.Contains("No such file or directory (ENOENT)", missing.Stderr);
        Assert.Equal(Usage, Ctl("status").ExitCode);
    }

    [Fact]
    public void With_control_none_there_is_no_control_socket()
    {
        using var daemon = DaemonProcess.Start(1, ["--control", "none"]);
        Assert.Equal([daemon.Socket(0)], Directory.GetFileSystemEntries(daemon.Folder));
    }

    [Fact]
    public void The_control_socket_follows_socket_mode_and_goes_on_SIGTERM()
    {
        string directory = DaemonProcess.NewDirectory();
        string elsewhere = Path.Combine(directory, "ops.ctl");
        using var daemon = DaemonProcess.Start(1, ["--socket-mode", "0600", "--control", elsewhere], directory: directory);
        Assert.Equal(0b110_000_000u, SocketMode(elsewhere));
        Assert.Equal(SocketMode(daemon.Socket(0)), SocketMode(elsewhere));
        Assert.Contains("guest 0", Succeed("-C", elsewhere, "status").Stdout);
        daemon.Process.Terminate(TimeSpan.FromSeconds(20));
        Assert.False(File.Exists(elsewhere), "the control socket outlived the daemon");
    }

    [Fact]
    public void A_stale_control_socket_is_replaced_and_a_served_one_is_not_taken()
    {
        string directory = DaemonProcess.NewDirectory();
        string control = Path.Combine(directory, "can.sock.ctl");
        // A socket file nobody listens on any more, as a killed daemon leaves it.
        UnixSocket.Listen(control).Dispose();
        using (var daemon = DaemonProcess.Start(1, directory: directory))
        {
            Succeed("-C", control, "status");
            using var second = new ChildProcess("vhost-device-can", ["-s", Path.Combine(directory, "other.sock"), "--control", control]);
            Assert.Equal(1, second.WaitForExit(TimeSpan.FromSeconds(20)));
            Assert.Contains(second.Stderr, l => l.Contains($"{control} is in use by another running back-end", StringComparison.Ordinal));
        }
    }

    // SAFETY: lstat writes one StatBuffer into the local it is given.
    private static unsafe uint SocketMode(string path)
    {
        Libc.StatBuffer stat = default;
        Assert.Equal(0, Libc.lstat(path, &stat));
        Assert.Equal(Libc.S_IFSOCK, stat.Mode & Libc.S_IFMT);
        return stat.Mode & 0xFFF;
    }

    private static CanFrame Parse(string text)
    {
        Assert.True(CansendSyntax.TryParse(text, out CanFrame frame, out string? error), error);
        return frame;
    }
}
