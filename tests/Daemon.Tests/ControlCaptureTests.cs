using System.Runtime.Versioning;
using System.Text.Json;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using static VhostDeviceCan.Daemon.Tests.Traffic;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>Captures started and stopped at run time through vhost-can-ctl, read back with tshark.</summary>
[SupportedOSPlatform("linux")]
public sealed class ControlCaptureTests
{
    private static ToolResult Ctl(DaemonProcess daemon, params string[] arguments) => ControlTests.Ctl(["-C", daemon.Control, .. arguments]);



    private static CanFrame Frame(int side, int i) => CanFrame.Classic(0x100 + (uint)(side * 0x100), false, [(byte)i, (byte)side]);

    private static void Exchange(VirtioCanGuest sender, VirtioCanGuest receiver, IEnumerable<CanFrame> frames)
    {
        var batch = new CanFrame[16];
        foreach (CanFrame frame in frames)
        {
            Assert.Equal(0, sender.SendAndWait(frame, Patience));
            Assert.Equal(1, receiver.Receive(batch, Patience));
            Assert.Equal(frame, batch[0]);
        }
    }

    [Fact]
    public void A_capture_started_at_run_time_holds_exactly_the_frames_between_its_start_and_its_stop()
    {
        string folder = DaemonProcess.NewDirectory();
        string pcapng = Path.Combine(folder, "run.pcapng");
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        Exchange(a, b, Enumerable.Range(0, 3).Select(i => Frame(5, i)));

        JsonElement started = ControlTests.Json(daemon, "capture", "vbus:default", "-w", pcapng);
        int id = started.GetProperty("id").GetInt32();
        Assert.Equal(pcapng, started.GetProperty("path").GetString());
        Assert.Equal("pcapng", started.GetProperty("format").GetString());
        CanFrame[] fromA = [.. Enumerable.Range(0, 5).Select(i => Frame(0, i))], fromB = [.. Enumerable.Range(0, 5).Select(i => Frame(1, i))];
        Exchange(a, b, fromA);
        Exchange(b, a, fromB);

        JsonElement listed = Assert.Single(ControlTests.Json(daemon, "captures").GetProperty("captures").EnumerateArray());
        Assert.Equal(id, listed.GetProperty("id").GetInt32());
        Assert.True(listed.GetProperty("running").GetBoolean());

        JsonElement stopped = ControlTests.Json(daemon, "capture-stop", id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(20, stopped.GetProperty("recorded").GetInt64());
        Assert.Equal(0, stopped.GetProperty("dropped").GetInt64());
        Assert.Equal(1, stopped.GetProperty("files").GetInt32());
        Assert.Empty(ControlTests.Json(daemon, "captures").GetProperty("captures").EnumerateArray());
        // Frames after the stop are not in the file.
        Exchange(a, b, Enumerable.Range(0, 3).Select(i => Frame(5, i)));

        List<string> rows = Tshark.Rows(pcapng);
        Assert.Equal(20, rows.Count);
        Assert.Equal(fromA.Select(f => Tshark.Row("guest0", false, f)), rows.Where(r => r.StartsWith("guest0|0x00000002", StringComparison.Ordinal)));
        Assert.Equal(fromA.Select(f => Tshark.Row("guest1", true, f)), rows.Where(r => r.StartsWith("guest1|0x00000001", StringComparison.Ordinal)));
        Assert.Equal(fromB.Select(f => Tshark.Row("guest1", false, f)), rows.Where(r => r.StartsWith("guest1|0x00000002", StringComparison.Ordinal)));
        Assert.Equal(fromB.Select(f => Tshark.Row("guest0", true, f)), rows.Where(r => r.StartsWith("guest0|0x00000001", StringComparison.Ordinal)));

        ToolResult again = Ctl(daemon, "capture-stop", id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(again.ExitCode == 1, again.ToString());
        Assert.Contains("(no-such-capture)", again.Stderr);
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void Bad_captures_are_refused_with_a_reason()
    {
        using var daemon = DaemonProcess.Start(2);
        string folder = DaemonProcess.NewDirectory();
        (string[] Arguments, string Reason)[] cases =
        [
            (["request", "{\"v\":1,\"cmd\":\"capture\",\"target\":\"all\",\"path\":\"relative.pcapng\"}"], "is not an absolute path"),
            (["capture", "vbus:nowhere", "-w", Path.Combine(folder, "x.pcapng")], "no guest is on 'vbus:nowhere'"),
            (["capture", "all", "-w", "/proc/nowhere/x.pcapng"], "/proc/nowhere/x.pcapng"),
            (["capture", "all", "-w", Path.Combine(folder, "x.pcapng"), "--max-size", "12"], "max size '12'"),
        ];
        foreach (var (arguments, reason) in cases)
        {
            ToolResult result = Ctl(daemon, arguments);
            Assert.True(result.ExitCode == 1, result.ToString());
            Assert.Contains(reason, result.Stdout + result.Stderr);
        }
        Assert.Empty(ControlTests.Json(daemon, "captures").GetProperty("captures").EnumerateArray());
        Directory.Delete(folder, recursive: true);
    }
}
