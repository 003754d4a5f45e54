using System.Runtime.Versioning;
using System.Text.Json;
using VhostDeviceCan.Can;
using VhostDeviceCan.VirtioCanWire;
using static VhostDeviceCan.Daemon.Tests.Traffic;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary><c>vhost-can-ctl metrics</c> judged by promtool, and the fault layer and bus state in
/// <c>status</c>, against the published daemon with two simulated guests.</summary>
[SupportedOSPlatform("linux")]
public sealed class ControlMetricsStatusTests
{
    private static ToolResult Succeed(DaemonProcess daemon, params string[] arguments)
    {
        ToolResult result = ControlTests.Ctl(["-C", daemon.Control, .. arguments]);
        Assert.True(result.ExitCode == 0, result.ToString());
        return result;
    }

    [Fact]
    public void Metrics_over_the_control_socket_pass_promtool_and_move_with_traffic_without_an_http_endpoint()
    {
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        string before = Succeed(daemon, "metrics").Stdout;
        Run(50, [a, b], [a, b]);
        string after = Succeed(daemon, "metrics").Stdout;

        Assert.True(File.Exists("/usr/bin/promtool"), "promtool is missing: install Debian's prometheus package (.ci/run does)");
        ToolResult check = Tool.Run("promtool", ["check", "metrics"], standardInput: after);
        Assert.True(check.ExitCode == 0 && check.Stdout.Trim().Length == 0 && check.Stderr.Trim().Length == 0, check.ToString());
        Assert.Equal(0, Exposition.Parse(before).Value("vhost_device_can_frames_total", "guest=0", "direction=tx"));
        Assert.Equal(50, Exposition.Parse(after).Value("vhost_device_can_frames_total", "guest=0", "direction=tx"));
        Assert.Equal(50, Exposition.Parse(after).Value("vhost_device_can_frames_total", "guest=1", "direction=rx"));
        // Raw text, not a JSON string: the first line is a HELP line.
        Assert.StartsWith("# HELP vhost_device_can_", after);

        JsonElement json = ControlTests.Json(daemon, "metrics");
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", json.GetProperty("content_type").GetString());
        Assert.Contains("vhost_device_can_frames_total{", json.GetProperty("text").GetString());
    }

    [Fact]
    public void Status_shows_each_guests_fault_rules_their_counts_and_a_forced_bus_off()
    {
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        Succeed(daemon, "fault", "0", "tx:drop-every=2", "seed=3");
        for (int i = 0; i < 10; i++)
            Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(CanFrame.Classic(0x100, false, [(byte)i]), Patience));
        var received = new List<CanFrame>();
        var buffer = new CanFrame[16];
        DateTime deadline = DateTime.UtcNow + Patience;
        while (received.Count < 5 && DateTime.UtcNow < deadline) received.AddRange(buffer[..b.Receive(buffer, TimeSpan.FromMilliseconds(200))]);
        Assert.Equal(5, received.Count);

        JsonElement[] guests = [.. ControlTests.Json(daemon, "status").GetProperty("guests").EnumerateArray()];
        JsonElement faults = guests[0].GetProperty("faults");
        Assert.Equal("tx: drop every 2; seed 3", faults.GetProperty("rules").GetString());
        Assert.Equal(5, faults.GetProperty("counts").GetProperty("tx_dropped").GetInt64());
        Assert.Equal("none", guests[1].GetProperty("faults").GetProperty("rules").GetString());
        Assert.Equal("active", guests[0].GetProperty("bus_state").GetString());

        string text = Succeed(daemon, "status").Stdout;
        Assert.Contains("  faults tx: drop every 2; seed 3\n    tx refused 0, dropped 5,", text);
        // A guest with neither rules nor faults shows no fault lines.
        Assert.Single(text.Split('\n'), l => l.Contains("faults ", StringComparison.Ordinal));

        Succeed(daemon, "bus-off", "1");
        deadline = DateTime.UtcNow + Patience;
        JsonElement guest1;
        while ((guest1 = ControlTests.Json(daemon, "status").GetProperty("guests")[1]).GetProperty("bus_state").GetString() != "bus-off")
        {
            Assert.True(DateTime.UtcNow < deadline, guest1.ToString());
            Thread.Sleep(20);
        }
        Assert.Equal("bus-off", guest1.GetProperty("controller").GetString());
        Assert.Equal(1, guest1.GetProperty("faults").GetProperty("counts").GetProperty("bus_offs").GetInt64());
        text = Succeed(daemon, "status").Stdout;
        Assert.Contains("  controller: bus-off; bus: bus-off;", text);
        Assert.Contains("bus-offs 1, recoveries 0", text);
    }
}
