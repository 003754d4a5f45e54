using System.Globalization;
using System.Text.RegularExpressions;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using static VhostDeviceCan.Daemon.Tests.BridgeDaemons;
using static VhostDeviceCan.Daemon.Tests.Traffic;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>The socketcand bridge with the real daemon, simulated guests, raw TCP clients and
/// python-can's socketcand interface (Debian's python3-can) as a client.</summary>
public sealed class SocketcandTests
{
    private const uint StartMark = 0x7FE;

    private static ChildProcess Python(int port, params string[] arguments)
    {
        string script = Path.Combine(RepositoryPaths.Root(), "tests", "Daemon.Tests", "python", "socketcand_client.py");
        var client = new ChildProcess("/usr/bin/python3", [script, "--port", port.ToString(CultureInfo.InvariantCulture), .. arguments]);
        client.WaitForOutput("^READY$", Patience);
        return client;
    }

    /// <summary>The frames python printed, as "ID#DATA".</summary>
    private static List<string> PythonReceived(ChildProcess client)
    {
        Assert.Equal(0, client.WaitForExit(TimeSpan.FromSeconds(60)));
        Assert.Contains("DONE", client.Stdout);
        return [.. client.Stdout.Where(l => l.StartsWith("RX ", StringComparison.Ordinal)).Select(l => l[3..])];
    }

    /// <summary>As python prints a frame: the ID in hex without padding, the data in upper-case hex.</summary>
    private static string Text(in CanFrame frame) => $"{frame.Id:X}#{Convert.ToHexString(frame.Data)}";

    /// <summary>Frame <paramref name="i"/> of a stream: standard and extended IDs (above 0x7FF, with
    /// 3 to 8 digits), lengths 0 to 8, the stream and the index in the data.</summary>
    private static CanFrame StreamFrame(int stream, int i)
    {
        byte[] data = [(byte)stream, (byte)i, (byte)(i >> 8), 0x5A, 0xA5, (byte)~i, 0, 0xFF];
        int length = i % 9;
        return (i % 3) switch
        {
            0 => CanFrame.Classic((uint)(stream << 8 | i % 0x100), false, data.AsSpan(0, length)),
            1 => CanFrame.Classic((uint)(0x800 + stream * 0x1000 + i), true, data.AsSpan(0, length)),
            _ => CanFrame.Classic((uint)(0x10000000 | stream << 16 | i), true, data.AsSpan(0, length)),
        };
    }

    /// <summary>"ID#DATA" in the form the python client takes (8 digits for an extended ID).</summary>
    private static string Argument(in CanFrame frame) =>
        (frame.IsExtended ? frame.Id.ToString("X8", CultureInfo.InvariantCulture) : frame.Id.ToString("X3", CultureInfo.InvariantCulture))
        + "#" + Convert.ToHexString(frame.Data);

    private static List<CanFrame> ReceiveFrames(VirtioCanGuest guest, int count)
    {
        var frames = new List<CanFrame>();
        var batch = new CanFrame[64];
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (frames.Count < count && DateTime.UtcNow < deadline)
        {
            int n = guest.Receive(batch, TimeSpan.FromMilliseconds(200));
            frames.AddRange(batch[..n]);
        }
        return frames;
    }

    [Fact]
    public void Python_can_and_a_guest_exchange_frames_identical_and_in_order_both_ways()
    {
        const int count = 300;
        using var daemon = Served(1, out int port);
        using var guest = Started(daemon.Socket(0));
        CanFrame[] fromPython = [.. Enumerable.Range(0, count).Select(i => StreamFrame(1, i))];
        CanFrame[] fromGuest = [.. Enumerable.Range(0, count).Select(i => StreamFrame(2, i))];
        using var python = Python(port, [
            "--start-id", StartMark.ToString("X", CultureInfo.InvariantCulture), "--expect", count.ToString(CultureInfo.InvariantCulture),
            "--send-remote", "123#R2", .. fromPython.SelectMany(f => new[] { "--send", Argument(f) })]);

        Assert.Equal(0, guest.SendAndWait(CanFrame.Classic(StartMark, false, [])));
        // What socketcand cannot carry (docs/spec/socketcand.md §5) is dropped for the client and counted.
        Assert.Equal(0, guest.SendAndWait(CanFrame.Fd(0x55, false, [1, 2, 3])));
        Assert.Equal(0, guest.SendAndWait(CanFrame.Remote(0x56, false, 4)));
        foreach (var frame in fromGuest) Assert.Equal(0, guest.SendAndWait(frame));

        Assert.Equal(fromPython, ReceiveFrames(guest, count));
        Assert.Equal(fromGuest.Select(f => Text(f)), PythonReceived(python));
        // python-can's remote frame has no bytes after its length: socketcand's syntax refuses it.
        Assert.True(ReceivesNothing(guest));
        ReportShows(daemon, $"sessions up 1 down 1 refused 0, frames in {count} out {count + 1}; dropped: slow-client 0, fd 1, remote 1, error-frame 0, bus-refused 0; commands: bad-send 1, unknown 0, too-long 0");
    }

    [Fact]
    public void Two_python_clients_see_each_others_frames_and_never_their_own()
    {
        const int count = 100;
        using var daemon = Served(1, out int port);
        using var guest = Started(daemon.Socket(0));
        string mark = StartMark.ToString("X", CultureInfo.InvariantCulture);
        CanFrame[] fromA = [.. Enumerable.Range(0, count).Select(i => StreamFrame(3, i))];
        CanFrame[] fromB = [.. Enumerable.Range(0, count).Select(i => StreamFrame(4, i))];
        using var a = Python(port, ["--start-id", mark, "--expect", "100", "--linger", "1", .. fromA.SelectMany(f => new[] { "--send", Argument(f) })]);
        using var b = Python(port, ["--start-id", mark, "--expect", "100", "--linger", "1", .. fromB.SelectMany(f => new[] { "--send", Argument(f) })]);
        daemon.Process.WaitForLog("session 2 from .* opened the bus");
        // Both are in RAW mode once READY: the mark starts both.
        Assert.Equal(0, guest.SendAndWait(CanFrame.Classic(StartMark, false, [])));

        Assert.Equal(fromB.Select(f => Text(f)), PythonReceived(a));
        Assert.Equal(fromA.Select(f => Text(f)), PythonReceived(b));
        List<CanFrame> atGuest = ReceiveFrames(guest, 2 * count);
        Assert.Equal(fromA, atGuest.Where(f => fromA.Contains(f)));
        Assert.Equal(fromB, atGuest.Where(f => fromB.Contains(f)));
        Assert.Equal(2 * count, atGuest.Count);
    }
}
