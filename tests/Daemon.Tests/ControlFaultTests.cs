using System.Runtime.Versioning;
using System.Text.Json;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using VhostDeviceCan.VirtioCanWire;
using static VhostDeviceCan.Daemon.Tests.Traffic;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>Fault rules changed and a bus-off forced at run time through vhost-can-ctl, against the
/// published daemon with two simulated guests on its virtual bus.</summary>
[SupportedOSPlatform("linux")]
public sealed class ControlFaultTests
{
    private static ToolResult Ctl(DaemonProcess daemon, params string[] arguments) => ControlTests.Ctl(["-C", daemon.Control, .. arguments]);



    private static CanFrame Numbered(int i) => CanFrame.Classic(0x100, false, [(byte)i]);

    private static List<int> ReceiveAll(VirtioCanGuest guest, int expected)
    {
        var heard = new List<int>();
        var buffer = new CanFrame[64];
        DateTime deadline = DateTime.UtcNow + Patience;
        while (heard.Count < expected && DateTime.UtcNow < deadline)
        {
            int n = guest.Receive(buffer, TimeSpan.FromSeconds(1));
            heard.AddRange(buffer[..n].Select(f => (int)f.Data[0]));
        }
        Assert.True(ReceivesNothing(guest), "more frames than expected");
        return heard;
    }

    [Fact]
    public void Drop_rule_set_at_run_time_loses_every_tenth_frame_and_none_clears_it()
    {
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));

        JsonElement set = ControlTests.Json(daemon, "fault", "0", "tx:drop-every=10", "seed=7");
        Assert.Equal(0, set.GetProperty("guest").GetInt32());
        Assert.Equal("tx: drop every 10; seed 7", set.GetProperty("rules").GetString());
        Assert.Equal(7UL, set.GetProperty("seed").GetUInt64());

        for (int i = 0; i < 100; i++) Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(Numbered(i)));
        Assert.Equal(Enumerable.Range(0, 100).Where(i => (i + 1) % 10 != 0), ReceiveAll(b, 90));

        JsonElement[] listed = [.. ControlTests.Json(daemon, "faults", "0").GetProperty("guests").EnumerateArray()];
        JsonElement only = Assert.Single(listed);
        Assert.Equal(10, only.GetProperty("counts").GetProperty("tx_dropped").GetInt64());
        Assert.Equal(0, only.GetProperty("counts").GetProperty("rx_dropped").GetInt64());
        // Both guests listed without a guest argument; guest 1 has neither rules nor faults.
        JsonElement[] all = [.. ControlTests.Json(daemon, "faults").GetProperty("guests").EnumerateArray()];
        Assert.Equal(2, all.Length);
        Assert.Equal("none", all[1].GetProperty("rules").GetString());
        Assert.Equal(0, all[1].GetProperty("counts").GetProperty("tx_dropped").GetInt64());

        ToolResult cleared = Ctl(daemon, "fault", "0", "none");
        Assert.True(cleared.ExitCode == 0, cleared.ToString());
        Assert.StartsWith("guest 0: faults none", cleared.Stdout);
        for (int i = 0; i < 100; i++) Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(Numbered(i)));
        Assert.Equal(Enumerable.Range(0, 100), ReceiveAll(b, 100));

        ToolResult text = Ctl(daemon, "faults", "0");
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains("tx refused 0, dropped 10,", text.Stdout);
    }

    [Theory]
    [InlineData("tx:explode=5%", "unknown fault 'explode'")]
    [InlineData("rx:refuse-every=2", "refuse applies to tx only")]
    [InlineData("drop=5%", "needs a direction")]
    public void Bad_spec_is_refused_on_one_line_and_leaves_the_rules_as_they_were(string spec, string reason)
    {
        using var daemon = DaemonProcess.Start(2, ["--fault", "0=tx:drop-every=3"]);
        ToolResult result = Ctl(daemon, "fault", "0", spec);
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Equal("", result.Stdout);
        string line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(reason, line);
        Assert.EndsWith("(bad-argument)", line);
        Assert.StartsWith("tx: drop every 3", ControlTests.Json(daemon, "faults", "0").GetProperty("guests")[0].GetProperty("rules").GetString());
    }

    [Fact]
    public void Unknown_guest_is_refused()
    {
        using var daemon = DaemonProcess.Start(2);
        ToolResult result = Ctl(daemon, "fault", "5", "tx:drop-every=2");
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("(no-such-guest)", result.Stderr);
    }

    [Fact]
    public void Bus_off_forced_at_run_time_reaches_the_guest_until_it_restarts()
    {
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(Numbered(0)));
        Assert.Equal(new[] { 0 }, ReceiveAll(b, 1));

        ToolResult forced = Ctl(daemon, "bus-off", "0");
        Assert.True(forced.ExitCode == 0, forced.ToString());
        Assert.True(a.WaitForConfigChange(Patience), "no bus-off notification");
        Assert.Equal(VirtioCan.VIRTIO_CAN_S_CTRL_BUSOFF, a.ReadStatus());
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_NOT_OK, a.SendAndWait(Numbered(1)));
        Assert.Equal("bus-off", ControlTests.Json(daemon, "status").GetProperty("guests")[0].GetProperty("controller").GetString());
        Assert.Equal(1, ControlTests.Json(daemon, "faults", "0").GetProperty("guests")[0].GetProperty("counts").GetProperty("bus_offs").GetInt64());

        Assert.True(a.Start(Patience), "restart after bus-off refused");
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(Numbered(2)));
        Assert.Equal(new[] { 2 }, ReceiveAll(b, 1));

        ToolResult bad = Ctl(daemon, "bus-off", "0", "--recover-after", "soon");
        Assert.True(bad.ExitCode == 1, bad.ToString());
        Assert.Contains("(bad-argument)", bad.Stderr);
    }
}
