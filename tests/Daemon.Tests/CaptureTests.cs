using System.Globalization;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using static VhostDeviceCan.Daemon.Tests.Traffic;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>--capture on the published daemon: guests exchange frames, the daemon stops on
/// SIGTERM, and tshark and can-utils' log2asc read what it wrote.</summary>
public sealed class CaptureTests
{

    /// <summary>Every kind of frame, from guest <paramref name="side"/>; no identifier 0, which
    /// Wireshark hands to a heuristic protocol dissector.</summary>
    private static CanFrame[] Mix(int side) =>
    [
        CanFrame.Classic(0x123 + (uint)side, false, [0xDE, 0xAD, 0xBE, (byte)side]),
        CanFrame.Classic(0x1234567 + (uint)side, true, [1, 2, 3, 4, 5, 6, 7, (byte)side]),
        CanFrame.Remote(0x200 + (uint)side, false, 3),
        CanFrame.Remote(0x1ABCDE0 + (uint)side, true, 0),
        CanFrame.Fd(0x1FFFFFF0 + (uint)side, true, [.. Enumerable.Range(0, 12).Select(i => (byte)(i + side))], CanFrame.CANFD_BRS),
        CanFrame.Fd(0x310 + (uint)side, false, [.. Enumerable.Range(0, 64).Select(i => (byte)(i ^ side))], CanFrame.CANFD_BRS),
        CanFrame.Classic(0x400 + (uint)side, false, []),
    ];

    /// <summary>The frame as the device passes it: virtio 1.4 has no BRS bit, so an FD frame leaves a guest without it.</summary>
    private static CanFrame OnTheBus(CanFrame frame)
    {
        if (frame.IsFd) frame.Flags = CanFrame.CANFD_FDF;
        return frame;
    }

    /// <summary>Sends every frame of <paramref name="frames"/> from one guest and checks the other gets each.</summary>
    private static void Exchange(VirtioCanGuest sender, VirtioCanGuest receiver, CanFrame[] frames)
    {
        var batch = new CanFrame[16];
        foreach (CanFrame frame in frames)
        {
            Assert.Equal(0, sender.SendAndWait(frame, Patience));
            Assert.Equal(1, receiver.Receive(batch, Patience));
            Assert.Equal(OnTheBus(frame), batch[0]);
        }
    }

    [Fact]
    public void A_bus_capture_holds_every_frame_both_ways_with_guest_and_direction_in_pcapng_and_in_the_log()
    {
        // Apart from the daemon's own folder, which it removes when it stops.
        string folder = DaemonProcess.NewDirectory();
        string pcapng = Path.Combine(folder, "bus.pcapng");
        string log = Path.Combine(folder, "bus.log");
        using (var daemon = DaemonProcess.Start(2, ["--capture", $"vbus:default={pcapng}", "--capture", $"vbus:default={log}"]))
        {
            daemon.Process.WaitForLog("capturing vbus:default \\(guest0, guest1\\) to .*bus.pcapng as pcapng");
            using var a = Started(daemon.Socket(0));
            using var b = Started(daemon.Socket(1));
            Exchange(a, b, Mix(0));
            Exchange(b, a, Mix(1));
            daemon.Signal("TERM");
            Assert.Equal(0, daemon.Process.WaitForExit(TimeSpan.FromSeconds(20)));
            daemon.Process.WaitForLog($"capture of vbus:default to {System.Text.RegularExpressions.Regex.Escape(pcapng)} stopped: 28 frames written, none lost, 1 file");
        }

        List<string> rows = [.. Tshark.Rows(pcapng)];
        Assert.Equal(28, rows.Count);
        CanFrame[] fromA = [.. Mix(0).Select(OnTheBus)], fromB = [.. Mix(1).Select(OnTheBus)];
        Assert.Equal(fromA.Select(f => Tshark.Row("guest0", false, f)), rows.Where(r => r.StartsWith("guest0|0x00000002", StringComparison.Ordinal)));
        Assert.Equal(fromA.Select(f => Tshark.Row("guest1", true, f)), rows.Where(r => r.StartsWith("guest1|0x00000001", StringComparison.Ordinal)));
        Assert.Equal(fromB.Select(f => Tshark.Row("guest1", false, f)), rows.Where(r => r.StartsWith("guest1|0x00000002", StringComparison.Ordinal)));
        Assert.Equal(fromB.Select(f => Tshark.Row("guest0", true, f)), rows.Where(r => r.StartsWith("guest0|0x00000001", StringComparison.Ordinal)));
        string description = Tshark.Fields(pcapng, ["frame.interface_description"])[0][0];
        Assert.Matches(@"^/tmp/vdc-\w+/can\.sock0 on vbus:default$", description);

        string[] lines = File.ReadAllLines(log);
        Assert.Equal(28, lines.Length);
        Assert.All(lines, l => Assert.Matches(@"^\(\d{10}\.\d{6}\) guest[01][rt]x [0-9A-F]+#", l));
        Assert.Equal(fromA.Select(f => f.ToString()), lines.Where(l => l.Contains(" guest0tx ")).Select(l => l.Split(' ')[2]));
        Assert.Equal(fromA.Select(f => f.ToString()), lines.Where(l => l.Contains(" guest1rx ")).Select(l => l.Split(' ')[2]));
        Assert.Equal(fromB.Select(f => f.ToString()), lines.Where(l => l.Contains(" guest1tx ")).Select(l => l.Split(' ')[2]));
        Assert.Equal(fromB.Select(f => f.ToString()), lines.Where(l => l.Contains(" guest0rx ")).Select(l => l.Split(' ')[2]));

        // log2asc gives each name its channel (1 guest0tx, 2 guest0rx, 3 guest1tx, 4 guest1rx) and one line per frame.
        ToolResult asc = Tool.Succeed("log2asc", "-I", log, "guest0tx", "guest0rx", "guest1tx", "guest1rx");
        var channel = new System.Text.RegularExpressions.Regex(@"^\s+\d+\.\d{6} (?:CANFD\s+)?(\d) ");
        int[] channels = [.. asc.Stdout.Split('\n').Select(l => channel.Match(l)).Where(m => m.Success).Select(m => m.Groups[1].Value[0] - '0')];
        Assert.Equal([7, 7, 7, 7], Enumerable.Range(1, 4).Select(c => channels.Count(x => x == c)));
        Assert.Contains(asc.Stdout.Split('\n'), l => l.Contains("CANFD   3 ") && l.Contains("1FFFFFF1x", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(asc.Stdout.Split('\n'), l => l.Contains(" 4  1ABCDE0x ", StringComparison.OrdinalIgnoreCase) && l.Contains(" r 0"));
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void A_rotated_capture_is_files_each_readable_alone_holding_every_frame_once()
    {
        string folder = DaemonProcess.NewDirectory();
        string pcapng = Path.Combine(folder, "run.pcapng");
        const int Count = 1000;
        // Traffic numbers its senders from 1.
        using (var daemon = DaemonProcess.Start(2, ["--capture", $"all={pcapng},max-size=16k,keep=1000"]))
        {
            using var a = Started(daemon.Socket(0));
            using var b = Started(daemon.Socket(1));
            Traffic.Run(Count, [a], [b]);
            daemon.Signal("TERM");
            Assert.Equal(0, daemon.Process.WaitForExit(TimeSpan.FromSeconds(20)));
        }

        string[] rotated = [.. Directory.GetFiles(folder, "run.pcapng.*").Where(f => f != pcapng).OrderByDescending(f => int.Parse(Path.GetExtension(f)[1..], CultureInfo.InvariantCulture))];
        Assert.True(rotated.Length >= 3, $"{rotated.Length} rotated files");
        string[] files = [.. rotated, pcapng];
        Assert.All(files, f => Assert.InRange(new FileInfo(f).Length, 1, 16 * 1024));
        List<string> rows = [.. files.SelectMany(Tshark.Rows)];
        Assert.Equal(Enumerable.Range(0, Count).Select(i => Tshark.Row("guest0", false, OnTheBus(Frame(1, i)))), rows.Where(r => r.StartsWith("guest0|", StringComparison.Ordinal)));
        Assert.Equal(Enumerable.Range(0, Count).Select(i => Tshark.Row("guest1", true, OnTheBus(Frame(1, i)))), rows.Where(r => r.StartsWith("guest1|", StringComparison.Ordinal)));
        Assert.Equal(2 * Count, rows.Count);
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void A_guest_that_only_receives_and_one_never_connected_make_valid_captures()
    {
        string folder = DaemonProcess.NewDirectory();
        string listener = Path.Combine(folder, "listener.pcapng");
        string absent = Path.Combine(folder, "absent.log");
        string idle = Path.Combine(folder, "absent.pcapng");
        using (var daemon = DaemonProcess.Start(3, ["--capture", $"1={listener}", "--capture", $"2={absent}", "--capture", $"2={idle}"]))
        {
            using var a = Started(daemon.Socket(0));
            using var b = Started(daemon.Socket(1));
            Exchange(a, b, Mix(0));
        }

        Assert.Equal(Mix(0).Select(f => Tshark.Row("guest1", true, OnTheBus(f))), Tshark.Rows(listener));
        Assert.Empty(File.ReadAllText(absent));
        // A header and statistics only: tshark reads it, without a packet.
        Assert.Empty(Tshark.Fields(idle));
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void A_capture_file_that_cannot_be_written_fails_the_start_with_one_line()
    {
        string folder = DaemonProcess.NewDirectory();
        using var daemon = new ChildProcess("vhost-device-can",
            ["-s", Path.Combine(folder, "can.sock"), "--capture", $"0={folder}/missing/run.pcapng"]);
        Assert.Equal(1, daemon.WaitForExit());
        string line = Assert.Single(daemon.Stderr);
        Assert.StartsWith($"vhost-device-can: error: cannot write capture file '{folder}/missing/run.pcapng': ", line);
        Assert.False(File.Exists(Path.Combine(folder, "can.sock0")), "a socket file was left behind");
        Directory.Delete(folder, recursive: true);
    }

    [Theory]
    [InlineData("vbus:default", "is not TARGET=FILE")]
    [InlineData("0=-", "standard output")]
    [InlineData("0=run.pcap", "neither .pcapng nor .log")]
    [InlineData("0=run.pcapng,format=json", "'format=json'")]
    [InlineData("0=run.pcapng,max-size=1k", "at least 4096")]
    [InlineData("0=run.pcapng,max-size=ten", "'max-size=ten'")]
    [InlineData("0=run.pcapng,keep=-1", "'keep=-1'")]
    [InlineData("1=run.pcapng", "guests are numbered 0 to 0")]
    [InlineData("vbus:other=run.pcapng", "no guest is on 'vbus:other'")]
    public void A_bad_capture_option_is_one_line_and_exit_2(string value, string named)
    {
        using var daemon = new ChildProcess("vhost-device-can", ["-s", "/tmp/vdc-e2e-capture.sock", "--capture", value]);
        Assert.Equal(2, daemon.WaitForExit());
        string line = Assert.Single(daemon.Stderr);
        Assert.StartsWith("vhost-device-can: error: --capture", line);
        Assert.Contains(named, line);
    }
}
