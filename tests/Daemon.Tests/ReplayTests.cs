using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;
using System.Text;
using System.Text.Json;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using static VhostDeviceCan.Daemon.Tests.Traffic;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary><c>vhost-can-ctl replay</c> of candump logs into the published daemon, received by simulated guests.</summary>
[SupportedOSPlatform("linux")]
public sealed class ReplayTests
{
    internal static ToolResult Ctl(DaemonProcess daemon, params string[] arguments) =>
        Tool.Run(RepositoryPaths.Binary("vhost-can-ctl"), ["-C", daemon.Control, .. arguments], timeout: TimeSpan.FromSeconds(60));

    internal static ToolResult Succeed(DaemonProcess daemon, params string[] arguments)
    {
        ToolResult result = Ctl(daemon, arguments);
        Assert.True(result.ExitCode == 0, result.ToString());
        return result;
    }

    /// <summary>A candump log of <paramref name="frames"/>, frame i at <paramref name="offsetsMs"/>[i] after a fixed epoch time.</summary>
    internal static string WriteLog(string folder, IReadOnlyList<CanFrame> frames, Func<int, double> offsetsMs, string name = "can0")
    {
        var text = new StringBuilder();
        for (int i = 0; i < frames.Count; i++)
        {
            long micros = 1_700_000_000_000_000 + (long)Math.Round(offsetsMs(i) * 1000);
            text.Append(CultureInfo.InvariantCulture, $"({micros / 1_000_000}.{micros % 1_000_000:D6}) {name} {frames[i]}\n");
        }
        string path = Path.Combine(folder, $"log-{Guid.NewGuid():N}.log");
        File.WriteAllText(path, text.ToString());
        return path;
    }

    /// <summary>What a guest receives for a frame: BRS does not cross virtio-can 1.4.</summary>
    private static CanFrame AsReceived(CanFrame frame)
    {
        if (frame.IsFd) frame.Flags = CanFrame.CANFD_FDF;
        return frame;
    }

    internal static List<(CanFrame Frame, long At)> ReceiveTimed(VirtioCanGuest guest, int count, TimeSpan? patience = null)
    {
        var frames = new List<(CanFrame, long)>();
        var buffer = new CanFrame[64];
        DateTime deadline = DateTime.UtcNow + (patience ?? Patience);
        while (frames.Count < count && DateTime.UtcNow < deadline)
        {
            int got = guest.Receive(buffer, TimeSpan.FromMilliseconds(200));
            long at = Stopwatch.GetTimestamp();
            for (int i = 0; i < got; i++) frames.Add((buffer[i], at));
        }
        return frames;
    }

    private static List<CanFrame> Receive(VirtioCanGuest guest, int count) => [.. ReceiveTimed(guest, count).Select(f => f.Frame)];

    private static CanFrame[] Mixed(int count) => [.. Enumerable.Range(0, count).Select(i => Frame(3, i))];

    [Fact]
    public void A_log_replayed_onto_the_bus_reaches_every_guest_identical_and_in_order()
    {
        string folder = DaemonProcess.NewDirectory();
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        CanFrame[] frames = Mixed(40);
        string log = WriteLog(folder, frames, i => i * 0.5);

        ToolResult result = Succeed(daemon, "replay", "vbus:default", log);
        Assert.Contains("replay 1: vbus:default: sent 40 of 40 (1 of 1 passes)", result.Stdout);
        Assert.Contains("; done", result.Stdout);
        Assert.Equal(frames.Select(AsReceived), Receive(a, 40));
        Assert.Equal(frames.Select(AsReceived), Receive(b, 40));
        Assert.True(ReceivesNothing(a));
        // The replay's member left the bus with its end.
        JsonElement bus = Assert.Single(ControlTests.Json(daemon, "status").GetProperty("buses").EnumerateArray());
        Assert.Equal(0, bus.GetProperty("host_nodes").GetInt32());
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void A_log_replayed_into_one_guest_reaches_that_guest_only_and_loops_as_asked()
    {
        string folder = DaemonProcess.NewDirectory();
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        CanFrame[] frames = Mixed(12);
        string log = WriteLog(folder, frames, i => i);

        JsonElement reply = ControlTests.Json(daemon, "replay", "1", log, "--loop", "3");
        Assert.Equal("guest 1", reply.GetProperty("target").GetString());
        Assert.Equal(36, reply.GetProperty("frames").GetInt64());
        Assert.Equal(3, reply.GetProperty("passes_done").GetInt32());
        Assert.Equal("done", reply.GetProperty("result").GetString());
        Assert.Equal([.. frames.Select(AsReceived), .. frames.Select(AsReceived), .. frames.Select(AsReceived)], Receive(b, 36));
        Assert.True(ReceivesNothing(a));
        Assert.True(ReceivesNothing(b));
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void The_log_timing_is_kept_and_scaled_by_speed()
    {
        string folder = DaemonProcess.NewDirectory();
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        double[] offsets = [0, 20, 70, 170, 190, 240, 340];
        CanFrame[] frames = [.. Enumerable.Range(0, offsets.Length).Select(i => CanFrame.Classic(0x100 + (uint)i, false, [(byte)i]))];
        string log = WriteLog(folder, frames, i => offsets[i]);

        foreach (double speed in new[] { 1.0, 2.0 })
        {
            // The daemon's own account: from the first frame to the last sent, never shorter than the
            // log's span (nothing early), and no frame much late. Generous: the machine runs other
            // work; this checks behaviour. (A guest thread of this test may itself take two frames
            // in one turn, so arrival times here would measure the test's scheduling.)
            JsonElement done = ControlTests.Json(daemon, "replay", "vbus:default", log, "--speed", speed.ToString(CultureInfo.InvariantCulture));
            double span = offsets[^1] / speed;
            Assert.InRange(done.GetProperty("duration_seconds").GetDouble() * 1000, span, span + 30);
            Assert.InRange(done.GetProperty("max_lateness_ms").GetDouble(), 0, 30);
            Assert.Equal(frames, ReceiveTimed(a, frames.Length).Select(f => f.Frame));
        }
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void Fast_replay_waits_for_slow_guests_and_a_guest_that_takes_nothing_does_not_cost_the_others_a_frame()
    {
        string folder = DaemonProcess.NewDirectory();
        using var daemon = DaemonProcess.Start(2);
        using var reader = Started(daemon.Socket(0));
        // Started but never reading: its queue fills, the bus overruns it after 100 ms.
        using var stuck = Started(daemon.Socket(1));
        CanFrame[] frames = [.. Enumerable.Range(0, 5000).Select(i => CanFrame.Classic((uint)(i & 0x7FF), false, [(byte)i, (byte)(i >> 8)]))];
        string log = WriteLog(folder, frames, i => i * 10.0);

        ToolResult started = Succeed(daemon, "--json", "replay", "vbus:default", log, "--fast", "--detach");
        Assert.True(JsonDocument.Parse(started.Stdout).RootElement.GetProperty("result").GetProperty("running").GetBoolean());
        Assert.Equal(frames, Receive(reader, frames.Length));
        Assert.True(SpinWait.SpinUntil(() => ControlTests.Json(daemon, "replays").GetProperty("replays").GetArrayLength() == 0, Patience));
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void A_log_the_daemon_captured_replays_identically_with_interface_picking_one_guests_transmissions()
    {
        string folder = DaemonProcess.NewDirectory();
        string capture = Path.Combine(folder, "run.log");
        CanFrame[] sent = Mixed(20);
        using (var recorder = DaemonProcess.Start(2, ["--capture", "vbus:default=" + capture]))
        {
            using var a = Started(recorder.Socket(0));
            using var b = Started(recorder.Socket(1));
            foreach (CanFrame frame in sent)
            {
                Assert.Equal(0, a.SendAndWait(frame, Patience));
                Assert.Equal(AsReceived(frame), ReceiveOne(b));
            }
        }
        Assert.Contains(" guest0tx ", File.ReadAllText(capture));
        using var daemon = DaemonProcess.Start(2);
        using var c = Started(daemon.Socket(0));
        using var d = Started(daemon.Socket(1));
        ToolResult result = Succeed(daemon, "replay", "vbus:default", capture, "--interface", "guest0tx", "--fast");
        Assert.Contains("sent 20 of 20", result.Stdout);
        // The capture holds what the guest sent as it went over virtio: BRS already gone.
        Assert.Equal(sent.Select(AsReceived), Receive(d, 20));
        Assert.Equal(sent.Select(AsReceived), Receive(c, 20));
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void A_vector_asc_log_converted_by_can_utils_asc2log_replays()
    {
        Assert.True(Tool.IsInstalled("asc2log"), "can-utils' asc2log is needed");
        string folder = DaemonProcess.NewDirectory();
        string asc = Path.Combine(folder, "drive.asc"), log = Path.Combine(folder, "drive.log");
        File.WriteAllText(asc,
            "date Tue Dec 8 01:00:00.000 am 2026\n" +
            "base hex  timestamps absolute\n" +
            "internal events logged\n" +
            "Begin Triggerblock Tue Dec 8 01:00:00.000 am 2026\n" +
            "   0.000000 Start of measurement\n" +
            "   0.010000 1  123             Rx   d 4 DE AD BE EF\n" +
            "   0.020000 1  1F334455x       Rx   d 2 11 22\n" +
            "   0.030000 2  7FF             Tx   d 8 01 02 03 04 05 06 07 08\n" +
            "   0.040000 1  456             Rx   r 3\n" +
            "End TriggerBlock\n");
        Tool.Succeed("asc2log", "-I", asc, "-O", log);
        using var daemon = DaemonProcess.Start(1);
        using var a = Started(daemon.Socket(0));
        ToolResult result = Succeed(daemon, "replay", "0", log);
        Assert.Contains("sent 4 of 4", result.Stdout);
        Assert.Equal(
            [
                CanFrame.Classic(0x123, false, [0xDE, 0xAD, 0xBE, 0xEF]),
                CanFrame.Classic(0x1F334455, true, [0x11, 0x22]),
                CanFrame.Classic(0x7FF, false, [1, 2, 3, 4, 5, 6, 7, 8]),
                CanFrame.Remote(0x456, false, 3),
            ], Receive(a, 4));
        Directory.Delete(folder, recursive: true);
    }
}
