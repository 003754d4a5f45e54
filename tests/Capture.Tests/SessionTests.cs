using System.IO.Pipes;
using VhostDeviceCan.Can;
using VhostDeviceCan.Capture;

namespace VhostDeviceCan.Capture.Tests;

/// <summary>Captures run by a hub over taps the test drives, written by the real writer thread
/// to real files and pipes, and read back by tshark.</summary>
public sealed class SessionTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("vdc-capture-").FullName;
    private readonly ManualTap _tap0 = new();
    private readonly ManualTap _tap1 = new();
    private readonly ManualTap _tap2 = new();
    private readonly CaptureHub _hub = new();

    public SessionTests()
    {
        _hub.Add(new CapturePoint("guest0", "s0 on vbus:default", "vbus:default", 0, _tap0));
        _hub.Add(new CapturePoint("guest1", "s1 on vbus:default", "vbus:default", 1, _tap1));
        _hub.Add(new CapturePoint("guest2", "s2 on vcan0", "vcan0", 2, _tap2));
    }

    public void Dispose()
    {
        _hub.Dispose();
        Directory.Delete(_folder, true);
    }

    private string File(string name) => Path.Combine(_folder, name);

    /// <summary>One of each kind the encoders distinguish.</summary>
    private static readonly CanFrame[] Mix =
    [
        CanFrame.Classic(0x123, false, [0xDE, 0xAD, 0xBE, 0xEF]),
        CanFrame.Classic(0x12345678, true, [0x11, 0x22]),
        CanFrame.Remote(0x7FF, false, 4),
        CanFrame.Fd(0x01ABCDEF, true, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], CanFrame.CANFD_BRS),
        CanFrame.Fd(0x010, false, [.. Enumerable.Range(0, 64).Select(i => (byte)i)], CanFrame.CANFD_ESI),
        CanFrame.Classic(0x000, false, []),
    ];

    [Fact]
    public void Tshark_decodes_every_frame_with_its_guest_and_direction()
    {
        string path = File("bus.pcapng");
        CaptureSession session = _hub.Start("vbus:default", CaptureFormat.Pcapng, CaptureDestination.ToFile(path));
        Assert.True(_tap0.Attached && _tap1.Attached && !_tap2.Attached);
        var expected = new List<string>();
        foreach (CanFrame frame in Mix)
        {
            _tap0.Pass(CaptureDirection.Transmitted, frame);
            expected.Add(Tshark.Row("guest0", false, frame));
            Thread.Sleep(1);
            _tap1.Pass(CaptureDirection.Received, frame);
            expected.Add(Tshark.Row("guest1", true, frame));
            Thread.Sleep(1);
        }
        _tap2.Pass(CaptureDirection.Transmitted, Mix[0]);
        CaptureSummary summary = _hub.Stop(session);

        Assert.Equal(new CaptureSummary(12, 0, 1, null), summary);
        Assert.False(_tap0.Attached || _tap1.Attached);
        Assert.Equal(expected, Tshark.Rows(path));
    }

    [Fact]
    public void Time_stamps_are_wall_clock_nanoseconds()
    {
        string path = File("time.pcapng");
        double before = (DateTime.UtcNow - DateTime.UnixEpoch).TotalSeconds;
        CaptureSession session = _hub.Start("0", CaptureFormat.Pcapng, CaptureDestination.ToFile(path));
        _tap0.Pass(CaptureDirection.Transmitted, Mix[0]);
        Thread.Sleep(20);
        _tap0.Pass(CaptureDirection.Transmitted, Mix[1]);
        _hub.Stop(session);
        double after = (DateTime.UtcNow - DateTime.UnixEpoch).TotalSeconds;

        List<string[]> rows = Tshark.Fields(path, ["frame.time_epoch"]);
        double[] times = [.. rows.Select(r => double.Parse(r[0], System.Globalization.CultureInfo.InvariantCulture))];
        Assert.Equal(2, times.Length);
        Assert.InRange(times[0], before - 0.001, after);
        Assert.InRange(times[1] - times[0], 0.019, 1);
        // Nine decimals: tshark prints what if_tsresol 9 gives it.
        Assert.Matches(@"^\d+\.\d{9}$", rows[0][0]);
    }

    [Fact]
    public void Frames_that_find_the_ring_full_are_dropped_counted_and_reported_in_the_file()
    {
        string path = File("drops.pcapng");
        CaptureSession session = _hub.Start("1", CaptureFormat.Pcapng, CaptureDestination.ToFile(path), ringCapacity: 4);
        _tap1.Pass(CaptureDirection.Received, [.. Mix, .. Mix]);
        CaptureSummary summary = _hub.Stop(session);

        Assert.Equal(4, summary.Recorded);
        Assert.Equal(8, summary.Dropped);
        Assert.Equal(4, Tshark.Fields(path).Count);
        List<(uint Type, byte[] Body)> blocks = EncoderTests.Blocks(System.IO.File.ReadAllBytes(path));
        byte[] statistics = blocks.Single(b => b.Type == 5).Body;
        // isb_osdrop (7): the 8 frames the writer never saw.
        int at = statistics.AsSpan().IndexOf((byte[])[7, 0, 8, 0]);
        Assert.True(at > 0);
        Assert.Equal(8UL, BitConverter.ToUInt64(statistics, at + 4));
    }

    [Fact]
    public void A_rotated_capture_is_files_each_readable_alone_that_hold_every_frame_once()
    {
        string path = File("rotated.pcapng");
        CaptureSession session = _hub.Start("all", CaptureFormat.Pcapng, CaptureDestination.ToFile(path, maxSize: 4096, keep: 100));
        var expected = new List<string>();
        for (int i = 0; i < 300; i++)
        {
            // From 1: Wireshark hands identifier 0 with data to a heuristic protocol dissector.
            CanFrame frame = CanFrame.Classic((uint)i + 1, false, [(byte)i, (byte)(i >> 8)]);
            _tap2.Pass(CaptureDirection.Transmitted, frame);
            expected.Add(Tshark.Row("guest2", false, frame));
            if (i % 50 == 0) Thread.Sleep(15);
        }
        CaptureSummary summary = _hub.Stop(session);

        string[] files = [.. Directory.GetFiles(_folder, "rotated.pcapng*").OrderByDescending(f => f.Length).ThenByDescending(f => f, StringComparer.Ordinal)];
        Assert.True(files.Length >= 5, $"{files.Length} files");
        Assert.Equal(files.Length, summary.Files);
        Assert.All(files, f => Assert.InRange(new FileInfo(f).Length, 1, 4096));
        // Oldest first: rotated.pcapng.N ... rotated.pcapng.1, then rotated.pcapng.
        string[] ordered = [.. files.Where(f => f != path).OrderByDescending(f => int.Parse(Path.GetExtension(f)[1..])), path];
        Assert.Equal(expected, ordered.SelectMany(Tshark.Rows));
    }

    [Fact]
    public void Rotation_keeps_only_the_newest_files()
    {
        string path = File("kept.log");
        CaptureSession session = _hub.Start("2", CaptureFormat.CandumpLog, CaptureDestination.ToFile(path, maxSize: 4096, keep: 2));
        for (int i = 0; i < 1000; i++) _tap2.Pass(CaptureDirection.Transmitted, CanFrame.Classic((uint)i & 0x7FF, false, [1, 2, 3, 4, 5, 6, 7, 8]));
        CaptureSummary summary = _hub.Stop(session);

        Assert.True(summary.Files > 3);
        Assert.Equal([path, path + ".1", path + ".2"], Directory.GetFiles(_folder).Order(StringComparer.Ordinal));
        string[] newest = System.IO.File.ReadAllLines(path);
        Assert.EndsWith(" guest2tx 3E7#0102030405060708", newest[^1]);
    }

    [Fact]
    public void Several_captures_of_one_guest_run_at_once_and_stop_apart()
    {
        CaptureSession all = _hub.Start("all", CaptureFormat.CandumpLog, CaptureDestination.ToFile(File("all.log")));
        CaptureSession one = _hub.Start("0", CaptureFormat.Pcapng, CaptureDestination.ToFile(File("one.pcapng")));
        _tap0.Pass(CaptureDirection.Transmitted, Mix[0]);
        Assert.Equal(1, _hub.Stop(one).Recorded);
        _tap0.Pass(CaptureDirection.Transmitted, Mix[1]);
        Assert.True(_tap0.Attached);
        Assert.Equal(2, _hub.Stop(all).Recorded);
        Assert.False(_tap0.Attached);
        Assert.Empty(_hub.Sessions);
        Assert.Equal(2, System.IO.File.ReadAllLines(File("all.log")).Length);
    }

    [Fact]
    public void A_stream_capture_ends_by_itself_when_its_reader_goes_away()
    {
        var pipe = new AnonymousPipeServerStream(PipeDirection.Out);
        var reader = new AnonymousPipeClientStream(PipeDirection.In, pipe.ClientSafePipeHandle);
        CaptureSession session = _hub.Start("0", CaptureFormat.Pcapng, CaptureDestination.ToStream(pipe));
        var header = new byte[28];
        reader.ReadExactly(header);
        Assert.Equal([0x0A, 0x0D, 0x0D, 0x0A], header[..4]);
        reader.Dispose();
        pipe.DisposeLocalCopyOfClientHandle();
        for (int i = 0; i < 50 && session.IsRunning; i++)
        {
            _tap0.Pass(CaptureDirection.Transmitted, Mix[0]);
            Thread.Sleep(10);
        }
        Assert.True(session.WaitForEnd(TimeSpan.FromSeconds(5)));
        Assert.False(_tap0.Attached);
        Assert.IsAssignableFrom<IOException>(_hub.Stop(session).Error);
    }

    [Fact]
    public void A_target_naming_no_guest_and_an_unwritable_file_fail_the_start()
    {
        Assert.Contains("no guest is on 'vbus:other'", Assert.Throws<ArgumentException>(() =>
            _hub.Start("vbus:other", CaptureFormat.Pcapng, CaptureDestination.ToFile(File("x.pcapng")))).Message);
        Assert.Contains("no guest 3", Assert.Throws<ArgumentException>(() =>
            _hub.Start("3", CaptureFormat.Pcapng, CaptureDestination.ToFile(File("x.pcapng")))).Message);
        Assert.Contains("cannot write capture file", Assert.Throws<IOException>(() =>
            _hub.Start("all", CaptureFormat.Pcapng, CaptureDestination.ToFile(File("missing/x.pcapng")))).Message);
        Assert.Empty(_hub.Sessions);
        Assert.False(_tap0.Attached);
    }
}
