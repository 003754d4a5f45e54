using System.Buffers.Binary;
using System.Diagnostics;
using System.Text.RegularExpressions;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using VhostDeviceCan.Interop;
using VhostDeviceCan.VirtioCanWire;

namespace VhostDeviceCan.SocketCan.Tests;

/// <summary>
/// <c>--bridge vbus:NAME=socketcan:IFACE</c>: the published daemon's virtual bus joined to vcan0
/// or vcan1, simulated guests on the bus, can-utils and raw sockets as the host's nodes.
/// </summary>
[Trait("Category", "RealCan")]
public sealed class SocketCanBridgeTests : HostCanTest
{
    private const string OnVcan0 = "vbus:default=socketcan:vcan0";
    private const uint Marker = 0x7EE;

    private protected override void RestoreInterfaces()
    {
        Vcan.TryRun("ip", "link", "set", "vcan0", "up");
        if (Vcan.Run("ip", "link", "show", "vcan1").Contains("mtu 16 ", StringComparison.Ordinal))
        {
            Vcan.TryRun("ip", "link", "set", "vcan1", "down");
            Vcan.TryRun("ip", "link", "set", "vcan1", "mtu", "72");
        }
        Vcan.TryRun("ip", "link", "set", "vcan1", "up");
    }

    private DaemonProcess Bridged(int guests, params string[] bridges)
    {
        var daemon = Own(DaemonProcess.Start(guests, bridges.SelectMany(b => new[] { "--bridge", b })));
        foreach (string bridge in bridges) daemon.Process.WaitForLog($"bridge {Regex.Escape(bridge)}: on ");
        return daemon;
    }

    private VirtioCanGuest Guest(DaemonProcess daemon, int index)
    {
        var guest = Own(Connect(daemon.Socket(index)));
        Assert.True(guest.Start(Timeout), $"START refused:\n{daemon.Output}");
        return guest;
    }

    /// <summary>
    /// A simulated guest. Under UML on a loaded host the daemon sometimes gives up on a request
    /// whose payload came later than its 20 ms bound and drops the connection; the next attempt
    /// (a new session) is what a VMM would make.
    /// </summary>
    private static VirtioCanGuest Connect(string socket)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return VirtioCanGuest.Connect(socket, new VirtioCanGuestOptions { QueueSize = 256, ConnectTimeout = Timeout });
            }
            catch (VhostDeviceCan.VhostUser.VhostUserException) when (attempt < 20)
            {
                Thread.Sleep(500);
            }
        }
    }

    /// <summary>Frames the guest receives, markers left out, until <paramref name="count"/> came or the timeout.</summary>
    private static List<CanFrame> Receive(VirtioCanGuest guest, int count, TimeSpan? timeout = null)
    {
        var frames = new List<CanFrame>();
        var buffer = new CanFrame[64];
        var clock = Stopwatch.StartNew();
        while (frames.Count < count && clock.Elapsed < (timeout ?? Timeout))
        {
            int n = guest.Receive(buffer, TimeSpan.FromMilliseconds(100));
            frames.AddRange(buffer.AsSpan(0, n).ToArray().Where(f => f.CanId != Marker));
        }
        return frames;
    }

    private static void AssertNothingMore(VirtioCanGuest guest, string who) =>
        Assert.True(Receive(guest, 1, TimeSpan.FromMilliseconds(400)).Count == 0, $"{who} received a frame more");

    /// <summary>A raw socket on the interface, as a host node; its receive queue holds all a test sends
    /// (the default, some 250 frames, would lose frames the test counts).</summary>
    private static CanSocket HostNode(string interfaceName)
    {
        var socket = Vcan.Open(interfaceName);
        socket.RequestReceiveBuffer(16 << 20);
        return socket;
    }

    /// <summary>Data frames a raw socket receives (markers left out) until the socket is quiet for 400 ms.</summary>
    private static List<byte[]> Drain(CanSocket socket)
    {
        using var buffer = new CanReceiveBuffer(64);
        var frames = new List<byte[]>();
        while (Vcan.Readable(socket, 400))
        {
            Assert.Equal(0, socket.Receive(buffer, out int count));
            for (int i = 0; i < count; i++)
            {
                if (buffer.CanId(i) != Marker) frames.Add(buffer.Frame(i).ToArray());
            }
        }
        return frames;
    }

    private static readonly Regex ReportLine = new(
        @"SIGUSR2: bridge .* frames in (?<in>\d+) out (?<out>\d+); dropped: fd-on-classic (?<fd>\d+), tx-queue-full (?<full>\d+), "
        + @"interface-down (?<down>\d+), rx-overflow (?<overflow>\d+), send-error (?<error>\d+), bus-refused (?<refused>\d+)");

    /// <summary>A fresh SIGUSR2 report of the daemon's one bridge, its figures by name.</summary>
    private static Func<string, long> Report(DaemonProcess daemon)
    {
        int from = daemon.Log.Count;
        daemon.Signal("USR2");
        var found = daemon.Log.WaitFor(ReportLine, Timeout, from);
        Assert.True(found is not null, $"no bridge report:\n{daemon.Output}");
        Match match = found.Value.Match;
        return name => long.Parse(match.Groups[name].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Asks for reports until <paramref name="holds"/> says the figures are as expected.</summary>
    private static Func<string, long> ReportWhen(DaemonProcess daemon, Func<Func<string, long>, bool> holds, Action? between = null)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var figures = Report(daemon);
            if (holds(figures)) return figures;
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"the report never showed what was expected:\n{daemon.Log.Tail(10)}");
            between?.Invoke();
            Thread.Sleep(200);
        }
    }

    /// <summary>candump -L on the interface, returned once it has shown a marker (it binds some time after it starts).</summary>
    private BlockingLines Candump(string interfaceName)
    {
        var candump = Own(Vcan.Start("candump", "-L", interfaceName));
        Own(new Killer(candump));
        var lines = new BlockingLines(candump);
        using var sync = Vcan.Open(interfaceName);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Timeout)
        {
            Vcan.SendOk(sync, Vcan.Classic(Marker));
            if (lines.Next(TimeSpan.FromMilliseconds(100)) is not null) return lines;
        }
        Assert.Fail($"candump {interfaceName} printed nothing");
        return lines;
    }

    private sealed class Killer(Process process) : IDisposable
    {
        public void Dispose()
        {
            if (!process.HasExited) process.Kill();
            process.WaitForExit();
        }
    }

    /// <summary>The frames of candump's lines (the third field), markers left out, until quiet for a second.</summary>
    private static List<string> Lines(BlockingLines lines)
    {
        var frames = new List<string>();
        while (lines.Next(TimeSpan.FromSeconds(1)) is { } line)
        {
            string frame = line.Split(' ')[2];
            if (!frame.StartsWith("7EE#", StringComparison.Ordinal)) frames.Add(frame);
        }
        return frames;
    }

    [Fact]
    public void Frames_cross_both_ways_once_each_and_never_come_back_to_their_sender()
    {
        var daemon = Bridged(2, OnVcan0);
        daemon.Process.WaitForLog($"bridge {OnVcan0}: on vcan0 \\(CAN FD, MTU 72\\)");
        var g0 = Guest(daemon, 0);
        var g1 = Guest(daemon, 1);
        using var host = HostNode("vcan0");
        var candump = Candump("vcan0");

        // From the host: every guest on the bus hears it once.
        Vcan.Run("cansend", "vcan0", "123#DEADBEEF");
        Assert.True(Receive(g0, 1).Select(f => f.ToString()).SequenceEqual(["123#DEADBEEF"]), $"guest 0:\n{daemon.Log.Tail(20)}");
        Assert.True(Receive(g1, 1).Select(f => f.ToString()).SequenceEqual(["123#DEADBEEF"]), $"guest 1:\n{daemon.Log.Tail(20)}");

        // From a guest: the other guest and the interface hear it once, the sender never.
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, g0.SendAndWait(TestFrames.Parse("321#11223344"), Timeout));
        Assert.Equal(["321#11223344"], Receive(g1, 1).Select(f => f.ToString()));
        // candump heard cansend's frame too: each frame on vcan0 once.
        Assert.Equal(["123#DEADBEEF", "321#11223344"], Lines(candump));
        var seen = Drain(host);
        // The host node heard cansend's frame too: each once.
        Assert.Equal([Vcan.Classic(0x123, 0xDE, 0xAD, 0xBE, 0xEF), Vcan.Classic(0x321, 0x11, 0x22, 0x33, 0x44)], seen);
        AssertNothingMore(g0, "the sending guest");
        AssertNothingMore(g1, "the other guest");

        // CAN FD both ways (BRS is not in virtio-can 1.4: it arrives as plain FD).
        Vcan.Run("cansend", "vcan0", "456##1" + "00112233445566778899AABB");
        Assert.Equal(["456##000112233445566778899AABB"], Receive(g0, 1).Select(f => f.ToString()));
        Assert.Equal(["456##000112233445566778899AABB"], Receive(g1, 1).Select(f => f.ToString()));
        byte[] payload = [.. Enumerable.Range(0, 64).Select(i => (byte)i)];
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, g1.SendAndWait(CanFrame.Fd(0x1ABCDEF, true, payload), Timeout));
        Assert.Equal(CanFrame.Fd(0x1ABCDEF, true, payload), Receive(g0, 1).Single());
        var fds = Drain(host);
        Assert.Equal(2, fds.Count); // cansend's, then the guest's
        byte[] fd = fds[1];
        Assert.Equal(Vcan.Fd(0x1ABCDEF | Libc.CAN_EFF_FLAG, Libc.CANFD_FDF, payload), fd);
        AssertNothingMore(g1, "the sending guest");

        var figures = Report(daemon);
        Assert.Equal(2, figures("out"));
        foreach (string drop in new[] { "fd", "full", "down", "overflow", "error", "refused" }) Assert.Equal(0, figures(drop));
    }

    [Fact]
    public void On_a_classic_interface_fd_frames_are_dropped_and_counted_while_classic_frames_cross()
    {
        Vcan.SetLink("vcan1", "down");
        Vcan.Run("ip", "link", "set", "vcan1", "mtu", "16");
        Vcan.SetLink("vcan1", "up");
        const string OnVcan1 = "vbus:default=socketcan:vcan1";
        var daemon = Bridged(1, OnVcan1);
        daemon.Process.WaitForLog($"bridge {OnVcan1}: on vcan1 \\(classic CAN only, MTU 16: CAN FD frames from the bus are dropped\\)");
        var guest = Guest(daemon, 0);
        using var host = HostNode("vcan1");

        // The bus takes the FD frame (the guest's request completes OK); the bridge cannot pass it on.
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, guest.SendAndWait(CanFrame.Fd(0x100, false, [1, 2, 3, 4, 5, 6, 7, 8, 9]), Timeout));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, guest.SendAndWait(TestFrames.Parse("101#0102"), Timeout));
        Assert.Equal([Vcan.Classic(0x101, 1, 2)], Drain(host));
        daemon.Process.WaitForLog("bridge .*: vcan1 carries classic CAN only \\(MTU 16\\): CAN FD frames from the bus are dropped and counted as fd-on-classic");

        Vcan.Run("cansend", "vcan1", "7A0#0102");
        Assert.Equal(["7A0#0102"], Receive(guest, 1).Select(f => f.ToString()));

        var figures = Report(daemon);
        Assert.Equal(1, figures("fd"));
        Assert.Equal(1, figures("out"));
        Assert.Equal(1, figures("in"));
    }

    [Fact]
    public void Two_daemons_bridged_to_one_interface_carry_frames_between_their_guests_without_duplicates()
    {
        var daemonA = Bridged(1, OnVcan0);
        var daemonB = Bridged(1, OnVcan0);
        var a = Guest(daemonA, 0);
        var b = Guest(daemonB, 0);
        using var host = HostNode("vcan0");
        const int Count = 200;

        foreach (var (from, to, id) in new[] { (a, b, 0x100u), (b, a, 0x200u) })
        {
            for (int i = 0; i < Count; i++)
                Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, from.SendAndWait(CanFrame.Classic(id, false, [(byte)(i >> 8), (byte)i]), Timeout));
            var arrived = Receive(to, Count);
            Assert.Equal(Enumerable.Range(0, Count), arrived.Select(f => f.Id == id ? f.Data[0] << 8 | f.Data[1] : -1));
            AssertNothingMore(to, "the receiving guest");
            AssertNothingMore(from, "the sending guest");
        }
        // The host's socket saw each frame once: one bridge wrote it, the other only read it.
        var seen = Drain(host);
        Assert.Equal(2 * Count, seen.Count);
        Assert.Equal(Count, seen.Count(f => Vcan.CanIdOf(f) == 0x100));
        Assert.Equal(Count, Report(daemonA)("out"));
        Assert.Equal(Count, Report(daemonA)("in"));
        Assert.Equal(Count, Report(daemonB)("out"));
    }

    [Fact]
    public void The_interface_going_down_is_logged_and_counted_the_bus_keeps_serving_and_bridging_resumes_when_it_is_back()
    {
        var daemon = Bridged(2, OnVcan0);
        var g0 = Guest(daemon, 0);
        var g1 = Guest(daemon, 1);

        Vcan.SetLink("vcan0", "down");
        daemon.Process.WaitForLog("bridge .*: vcan0 is down \\(ENETDOWN\\): frames from the bus are dropped and counted as interface-down");
        for (int i = 0; i < 5; i++)
            Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, g0.SendAndWait(CanFrame.Classic(0x10, false, [(byte)i]), Timeout));
        Assert.Equal(5, Receive(g1, 5).Count);
        ReportWhen(daemon, figures => figures("down") == 5);

        Vcan.SetLink("vcan0", "up");
        daemon.Process.WaitForLog("bridge .*: vcan0 is back \\(CAN FD, MTU 72\\): bridging again");
        using var host = HostNode("vcan0");
        Vcan.Run("cansend", "vcan0", "123#AA");
        Assert.Equal(["123#AA"], Receive(g0, 1).Select(f => f.ToString()));
        Assert.Equal(["123#AA"], Receive(g1, 1).Select(f => f.ToString()));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, g1.SendAndWait(TestFrames.Parse("124#BB"), Timeout));
        // The host node hears cansend's frame and the guest's, once each.
        Assert.Equal([Vcan.Classic(0x123, 0xAA), Vcan.Classic(0x124, 0xBB)], Drain(host));
        Assert.Single(daemon.Log.Snapshot(), l => l.Contains("vcan0 is down", StringComparison.Ordinal));
    }

    [Fact]
    public void Frames_the_kernel_drops_while_the_bridge_cannot_read_are_counted_as_rx_overflow()
    {
        var daemon = Bridged(1, OnVcan0);
        using var writer = Vcan.Open("vcan0");
        byte[] frame = Vcan.Classic(0x555, 0, 0, 0, 0);
        int sent = 0;
        void Send()
        {
            BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(8), (uint)sent);
            int errno;
            while ((errno = writer.Send(frame)) is Errno.ENOBUFS or Errno.EAGAIN) Thread.Sleep(1);
            Assert.Equal(0, errno);
            sent++;
        }

        // The daemon stopped, its bridge's receive queue (some 10,000 frames) overflows.
        daemon.Signal("STOP");
        try
        {
            while (sent < 30_000) Send();
        }
        finally
        {
            daemon.Signal("CONT");
        }
        // The kernel tells of drops with the next frame it queues: one more after the queue drained.
        var figures = ReportWhen(daemon, f => f("in") + f("overflow") == sent, Send);
        Assert.True(figures("overflow") > 0, "no overflow counted");
        Assert.True(figures("in") > 1000, $"only {figures("in")} frames reached the bus");
    }

    [Fact]
    public void A_missing_or_down_interface_stops_the_start_with_one_line()
    {
        string directory = DaemonProcess.NewDirectory();
        try
        {
            using (var missing = new ChildProcess("vhost-device-can", ["-s", Path.Combine(directory, "can.sock"), "--bridge", "vbus:default=socketcan:vcan9"]))
            {
                Assert.Equal(1, missing.WaitForExit());
                string line = Assert.Single(missing.Stderr, l => l.Contains("error", StringComparison.Ordinal));
                Assert.StartsWith("vhost-device-can: error: --bridge vbus:default=socketcan:vcan9: cannot open: ", line);
                Assert.EndsWith("; no such CAN interface", line);
            }
            Vcan.SetLink("vcan1", "down");
            using (var down = new ChildProcess("vhost-device-can", ["-s", Path.Combine(directory, "can.sock"), "--bridge", "vbus:default=socketcan:vcan1"]))
            {
                Assert.Equal(1, down.WaitForExit());
                string line = Assert.Single(down.Stderr, l => l.Contains("error", StringComparison.Ordinal));
                Assert.Equal("vhost-device-can: error: --bridge vbus:default=socketcan:vcan1: cannot open: CAN interface vcan1 is down; bring it up first (ip link set vcan1 up)", line);
            }
            Assert.False(File.Exists(Path.Combine(directory, "can.sock0")), "a socket file was left behind");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
