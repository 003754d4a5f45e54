using System.Globalization;
using System.Runtime.Versioning;
using System.Text;
using System.Text.Json;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using VhostDeviceCan.Interop;
using static VhostDeviceCan.Daemon.Tests.Traffic;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>Live captures over the control connection (<c>vhost-can-ctl capture TARGET -w -</c>),
/// read by tshark and can-utils' log2asc through real pipes.</summary>
[SupportedOSPlatform("linux")]
public sealed class ControlStreamTests
{
    private static string Quote(string text) => "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static string CtlCommand(DaemonProcess daemon, string arguments) =>
        $"{Quote(RepositoryPaths.Binary("vhost-can-ctl"))} -C {Quote(daemon.Control)} {arguments}";

    private static JsonElement[] Captures(DaemonProcess daemon) =>
        [.. ControlTests.Json(daemon, "captures").GetProperty("captures").EnumerateArray()];

    /// <summary>Waits until the daemon lists exactly <paramref name="count"/> captures.</summary>
    private static JsonElement[] WaitForCaptures(DaemonProcess daemon, int count)
    {
        DateTime deadline = DateTime.UtcNow + Patience;
        JsonElement[] captures;
        while ((captures = Captures(daemon)).Length != count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"captures: {captures.Length}, expected {count}");
            Thread.Sleep(50);
        }
        return captures;
    }

    [Fact]
    public void A_live_pcapng_stream_piped_into_tshark_shows_every_frame_as_it_comes()
    {
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        string fields = string.Join(' ', Tshark.FrameFields.Select(f => "-e " + f));
        using var pipeline = new ChildProcess("/bin/bash", ["-c",
            CtlCommand(daemon, "capture vbus:default -w -")
            + $" | tshark -l -i - --disable-protocol autosar-nm -T fields -E separator='|' -E occurrence=f {fields}"]);
        JsonElement capture = Assert.Single(WaitForCaptures(daemon, 1));
        Assert.Equal(JsonValueKind.Null, capture.GetProperty("path").ValueKind);
        Assert.Contains("vhost-can-ctl", capture.GetProperty("stream_to").GetString());

        const int Count = 8;
        Run(Count, [a, b], [a, b]);
        var expected = new List<string>();
        for (int i = 0; i < Count; i++)
        {
            // What crosses the virtio wire: it has no BRS or ESI flag, so neither direction shows one.
            expected.Add(Tshark.Row("guest0", false, Received(1, i)));
            expected.Add(Tshark.Row("guest1", true, Received(1, i)));
            expected.Add(Tshark.Row("guest1", false, Received(2, i)));
            expected.Add(Tshark.Row("guest0", true, Received(2, i)));
        }
        // Live: every frame is decoded while the capture still runs. tshark loads its dissectors
        // first, which takes many seconds on a loaded machine; the frames wait in the pipe.
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (pipeline.Stdout.Count < expected.Count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"tshark printed {pipeline.Stdout.Count} of {expected.Count} rows:\n{pipeline.Output}");
            Thread.Sleep(50);
        }
        Assert.Equal(expected.Order(StringComparer.Ordinal), pipeline.Stdout.Order(StringComparer.Ordinal));
        Assert.True(Captures(daemon).Single().GetProperty("running").GetBoolean());

        // Stopped from elsewhere: the daemon ends the stream, the client exits 0, tshark reads the end.
        int id = capture.GetProperty("id").GetInt32();
        JsonElement stopped = ControlTests.Json(daemon, "capture-stop", id.ToString(CultureInfo.InvariantCulture));
        Assert.Equal(4 * Count, stopped.GetProperty("recorded").GetInt64());
        Assert.Equal(0, pipeline.WaitForExit(Patience));
        Assert.Empty(Captures(daemon));
    }

    [Fact]
    public void A_candump_log_stream_reads_in_log2asc()
    {
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        string folder = DaemonProcess.NewDirectory();
        string asc = Path.Combine(folder, "run.asc"), log = Path.Combine(folder, "run.log");
        using var pipeline = new ChildProcess("/bin/bash", ["-c",
            CtlCommand(daemon, "capture vbus:default -f log -w -") + $" | tee {Quote(log)} | log2asc -O {Quote(asc)} guest0tx guest1rx"]);
        JsonElement capture = Assert.Single(WaitForCaptures(daemon, 1));
        Assert.Equal("log", capture.GetProperty("format").GetString());
        CanFrame[] frames = [CanFrame.Classic(0x123, false, [0xDE, 0xAD, 0xBE, 0xEF]), CanFrame.Classic(0x1F334455, true, [0x11, 0x22])];
        var received = new CanFrame[4];
        foreach (CanFrame frame in frames)
        {
            Assert.Equal(0, a.SendAndWait(frame, Patience));
            Assert.Equal(1, b.Receive(received, Patience));
        }
        DateTime deadline = DateTime.UtcNow + Patience;
        while (!File.Exists(log) || File.ReadAllLines(log).Length < 4)
        {
            Assert.True(DateTime.UtcNow < deadline, pipeline.Output);
            Thread.Sleep(50);
        }
        ControlTests.Json(daemon, "capture-stop", capture.GetProperty("id").GetInt32().ToString(CultureInfo.InvariantCulture));
        Assert.Equal(0, pipeline.WaitForExit(Patience));

        string[] lines = File.ReadAllLines(log);
        Assert.Equal(4, lines.Length);
        Assert.EndsWith(" guest0tx 123#DEADBEEF", lines[0]);
        Assert.EndsWith(" guest1rx 123#DEADBEEF", lines[1]);
        Assert.EndsWith(" guest0tx 1F334455#1122", lines[2]);
        // log2asc: channel 1 is guest0tx, 2 guest1rx; extended identifiers end with x.
        string[] ascLines = [.. File.ReadAllLines(asc).Where(l => l.Contains(" d ", StringComparison.Ordinal))];
        Assert.Equal(4, ascLines.Length);
        Assert.Matches(@"^\s*[\d.]+ 1\s+123\s+Rx\s+d 4 DE AD BE EF", ascLines[0]);
        Assert.Matches(@"^\s*[\d.]+ 2\s+123\s+Rx\s+d 4 DE AD BE EF", ascLines[1]);
        Assert.Matches(@"^\s*[\d.]+ 1\s+1F334455x\s+Rx\s+d 2 11 22", ascLines[2]);
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void Closing_the_reader_stops_the_capture_and_frees_what_it_held()
    {
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        Run(4, [a, b], [a, b]);
        Thread.Sleep(200);
        int fdsBefore = daemon.FdCount;
        using var pipeline = new ChildProcess("/bin/bash", ["-c", CtlCommand(daemon, "capture vbus:default -w -") + " | head -c 100 >/dev/null"]);
        WaitForCaptures(daemon, 1);
        Assert.True(daemon.FdCount > fdsBefore);
        // head leaves after 100 bytes; the client notices at its next write, the daemon when the client leaves.
        DateTime deadline = DateTime.UtcNow + Patience;
        for (int round = 0; Captures(daemon).Length > 0; round++)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the capture still runs\n{pipeline.Output}");
            Run(4, [a, b], [a, b]);
        }
        Assert.Equal(0, pipeline.WaitForExit(Patience));
        deadline = DateTime.UtcNow + Patience;
        while (daemon.FdCount != fdsBefore)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{daemon.FdCount} fds open, {fdsBefore} before the capture");
            Thread.Sleep(50);
        }
        Assert.Contains(daemon.Log.Snapshot(), line => line.Contains("stream ended: the client closed the connection", StringComparison.Ordinal));
    }

    [Fact]
    public void A_reader_that_stops_reading_never_slows_the_guests_and_the_drops_are_counted()
    {
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        using UnixSocket reader = UnixSocket.Connect(daemon.Control);
        reader.Send("{\"v\":1,\"id\":1,\"cmd\":\"capture\",\"target\":\"vbus:default\",\"stream\":true}\n"u8);
        // The reply line, and not one byte more: then this reader reads nothing.
        var line = new List<byte>();
        Span<byte> one = stackalloc byte[1];
        while (reader.Receive(one, null) == 1 && one[0] != (byte)'\n') line.Add(one[0]);
        JsonElement reply = JsonDocument.Parse(line.ToArray()).RootElement;
        Assert.True(reply.GetProperty("ok").GetBoolean(), Encoding.UTF8.GetString([.. line]));

        // More than a capture ring holds (32,768 records per guest: each frame is one guest's
        // transmission and the other's reception), far more than the socket buffers.
        Run(20_000, [a, b], [a, b]);
        JsonElement capture = Assert.Single(Captures(daemon));
        Assert.True(capture.GetProperty("running").GetBoolean());
        long dropped = capture.GetProperty("dropped").GetInt64();
        Assert.True(dropped > 0, capture.ToString());
        JsonElement status = ControlTests.Json(daemon, "status");
        Assert.All(status.GetProperty("guests").EnumerateArray(),
            g => Assert.Equal(20_000, g.GetProperty("counters").GetProperty("rx_frames").GetInt64()));

        reader.Dispose();
        WaitForCaptures(daemon, 0);
        Assert.Contains(daemon.Log.Snapshot(), l => l.Contains("lost (the writer fell behind)", StringComparison.Ordinal));
    }
}
