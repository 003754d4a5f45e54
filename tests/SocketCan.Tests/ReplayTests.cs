using System.Diagnostics;
using System.Text.RegularExpressions;

namespace VhostDeviceCan.SocketCan.Tests;

/// <summary>
/// What <c>vhost-can-sim dump -L</c> records, can-utils' <c>canplayer</c> replays onto a real
/// interface: a guest's traffic captured on the virtual bus, then played to vcan0 and recorded
/// there by <c>candump -L</c>, frame for frame.
/// </summary>
[Trait("Category", "RealCan")]
public sealed class ReplayTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private const uint Marker = 0x7EE;

    private static ChildProcess Sim(params string[] arguments) => new("vhost-can-sim", arguments);

    /// <summary>What the guest sends, and what the dump records for it: virtio-can carries no BRS
    /// or ESI, so FD frames arrive as plain FD, and cansend pads FD payloads to an FD length.</summary>
    private static readonly (string Sent, string Recorded)[] Frames =
    [
        ("123#DEADBEEF", "123#DEADBEEF"),
        ("7FF#", "7FF#"),
        ("000#00", "000#00"),
        ("1F334455#0102030405060708", "1F334455#0102030405060708"),
        ("00000123#11", "00000123#11"),
        ("1F334455#R", "1F334455#R"),
        ("2A0#R4", "2A0#R4"),
        ("0AB##1112233445566778899AABB", "0AB##0112233445566778899AABB00"),
        ("321##0", "321##0"),
        ("1FFFFFFF##3" + Hex(20), "1FFFFFFF##0" + Hex(20)),
        ("456##2" + Hex(64), "456##0" + Hex(64)),
    ];

    private static string Hex(int length) => string.Concat(Enumerable.Range(0, length).Select(i => ((byte)(i * 7 + 1)).ToString("X2")));

    [Fact]
    public void A_dump_log_of_a_guests_frames_is_replayed_by_canplayer_onto_vcan0_frame_for_frame()
    {
        Vcan.RequireAfCan();
        using var daemon = DaemonProcess.Start(2);
        string log = Record(daemon, daemon.Socket(1));
        string[] lines = File.ReadAllLines(log);
        Assert.Equal(Frames.Select(f => f.Recorded), lines.Select(l => Regex.Match(l, @"^\(\d{10}\.\d{6}\) can\.sock1 (\S+)$").Groups[1].Value));

        // candump -L names the interface each frame came from; canplayer maps the log's name to vcan0.
        Assert.Equal(Frames.Select(f => f.Recorded), Replay(log, "vcan0=can.sock1"));
    }

    [Fact]
    public void A_dump_through_a_socket_with_a_long_name_is_replayable_too()
    {
        Vcan.RequireAfCan();
        using var daemon = DaemonProcess.Start(2);
        // 22 characters: more than an interface name holds (IFNAMSIZ, 15 and the zero), and
        // canplayer refuses longer names in a log. The dump keeps the name's end, with the index.
        string link = Path.Combine(daemon.Folder, "vhost-device-can.sock1");
        File.CreateSymbolicLink(link, daemon.Socket(1));
        string log = Record(daemon, link);
        Assert.All(File.ReadAllLines(log), l => Assert.Matches(@"^\(\d{10}\.\d{6}\) evice-can\.sock1 \S+$", l));

        Assert.Equal(Frames.Select(f => f.Recorded), Replay(log, "vcan0=evice-can.sock1"));
    }

    /// <summary>A guest on socket 0 sends <see cref="Frames"/>; <c>dump -L</c> on
    /// <paramref name="socket"/> records them into a file, whose path is returned.</summary>
    private static string Record(DaemonProcess daemon, string socket)
    {
        using var dump = Sim("dump", socket, "-L", "-n", Frames.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        dump.WaitFor(dump.Stderr, "listening on", ChildProcess.Timeout);
        using var send = Sim(["send", daemon.Socket(0), .. Frames.Select(f => f.Sent)]);
        Assert.True(send.WaitForExit() == 0, $"send failed: {string.Join('\n', send.Stderr)}");
        Assert.True(dump.WaitForExit() == 0, $"dump failed: {string.Join('\n', dump.Stderr)}");
        string log = Path.Combine(daemon.Folder, "guest.log");
        File.WriteAllLines(log, dump.Stdout);
        return log;
    }

    /// <summary>Plays <paramref name="log"/> with canplayer while candump -L records vcan0; returns
    /// the frames candump saw, FD flags as virtio-can carries them (Linux adds FDF to the nibble).</summary>
    private static List<string> Replay(string log, params string[] assignments)
    {
        using var candump = Vcan.Start("candump", "-L", "vcan0");
        var lines = new BlockingLines(candump);
        try
        {
            // candump binds at some unknown moment after start: repeat a marker until it shows.
            using (var sync = Vcan.Open("vcan0"))
            {
                var clock = Stopwatch.StartNew();
                string? shown = null;
                while (clock.Elapsed < Timeout && shown is null)
                {
                    Vcan.SendOk(sync, Vcan.Classic(Marker));
                    shown = lines.Next(TimeSpan.FromMilliseconds(100));
                }
                Assert.NotNull(shown);
            }

            // Timestamps honoured (no -t): canplayer keeps the recorded gaps, as a replay should.
            Vcan.Run("canplayer", ["-I", log, .. assignments]);

            var seen = new List<string>();
            string? line;
            while (seen.Count < Frames.Length && (line = lines.Next(Timeout)) is not null)
            {
                Match match = Regex.Match(line, @"^\(\d+\.\d{6}\) vcan0 (\S+)$");
                Assert.True(match.Success, $"candump printed '{line}'");
                string frame = match.Groups[1].Value;
                if (frame.StartsWith($"{Marker:X3}#", StringComparison.Ordinal)) continue;
                seen.Add(Regex.Replace(frame, "##([0-9A-F])", m => "##" + (Convert.ToInt32(m.Groups[1].Value, 16) & 3).ToString("X")));
            }
            Assert.Null(lines.Next(TimeSpan.FromMilliseconds(300)));
            return seen;
        }
        finally
        {
            candump.Kill();
            candump.WaitForExit();
        }
    }
}
