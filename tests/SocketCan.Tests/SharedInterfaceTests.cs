using System.Buffers.Binary;
using System.Diagnostics;
using System.Text.RegularExpressions;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using VhostDeviceCan.Interop;
using VhostDeviceCan.VirtioCanWire;

namespace VhostDeviceCan.SocketCan.Tests;

/// <summary>
/// Two guests of one daemon on one host interface, as two VMs share a physical bus: each hears
/// the other and the host's nodes, never itself, and each request is confirmed by that guest's
/// own frame going out, whatever the other guest sends.
/// </summary>
[Trait("Category", "RealCan")]
public sealed class SharedInterfaceTests : HostCanTest, IClassFixture<SharedInterfaceFixture>
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);
    private const uint Marker = 0x7EE;
    private readonly DaemonProcess _daemon;

    public SharedInterfaceTests(SharedInterfaceFixture fixture)
    {
        _daemon = fixture.Daemon;
        Assert.False(_daemon.HasExited, $"the daemon died:\n{_daemon.Output}");
    }

    private protected override void RestoreInterfaces()
    {
        Vcan.TryRun("tc", "qdisc", "del", "dev", "vcan0", "root");
        Vcan.TryRun("ip", "link", "set", "vcan0", "up");
    }

    /// <summary>A started guest on device <paramref name="index"/>, with LATE_TX_ACK.</summary>
    private VirtioCanGuest Guest(int index)
    {
        var guest = Own(VirtioCanGuest.Connect(_daemon.Socket(index), new VirtioCanGuestOptions { QueueSize = 256, ConnectTimeout = Timeout }));
        Assert.True(guest.Start(Timeout), $"START refused on device {index}:\n{_daemon.Output}");
        Assert.True(guest.Has(VirtioCan.VIRTIO_CAN_F_LATE_TX_ACK));
        return guest;
    }

    /// <summary>Frames until <paramref name="count"/> arrived or the timeout, then whatever else
    /// arrives before a quiet spell: a frame too many shows. Markers are left out.</summary>
    private static List<string> Received(VirtioCanGuest guest, int count)
    {
        var frames = new List<string>();
        var buffer = new CanFrame[64];
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Timeout)
        {
            int n = guest.Receive(buffer, frames.Count < count ? TimeSpan.FromMilliseconds(500) : Quiet);
            if (n == 0 && frames.Count >= count) break;
            frames.AddRange(buffer.AsSpan(0, n).ToArray().Where(f => f.Id != Marker).Select(f => f.ToString()));
        }
        return frames;
    }

    private static CanFrame Parse(string text) => TestFrames.Parse(text);

    private static readonly string[] Kinds = TestFrames.Kinds;

    private static readonly string[] KindsAsCarried = [.. Kinds[..3], Kinds[3].Replace("##1", "##0", StringComparison.Ordinal)];

    [Fact]
    public async Task A_frame_from_one_guest_reaches_the_other_guest_and_candump_but_not_its_sender()
    {
        var a = Guest(0);
        var b = Guest(1);
        using var candump = Vcan.Start("candump", "-L", "vcan0");
        var lines = new BlockingLines(candump);
        using var sync = Vcan.Open("vcan0");
        // candump binds at some unknown moment after start: repeat a marker until it shows.
        var clock = Stopwatch.StartNew();
        string? line = null;
        while (clock.Elapsed < Timeout && line is null)
        {
            Vcan.SendOk(sync, Vcan.Classic(Marker));
            line = lines.Next(TimeSpan.FromMilliseconds(100));
        }
        Assert.NotNull(line);

        foreach (string text in Kinds)
            Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(Parse(text), Timeout));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, b.SendAndWait(Parse("0B0#0B"), Timeout));

        Assert.Equal(KindsAsCarried, Received(b, Kinds.Length));
        Assert.Equal(["0B0#0B"], Received(a, 1));
        Assert.Equal((Kinds.Length, 0L), (a.TxOk, a.TxNotOk));
        Assert.Equal((1L, 0L), (b.TxOk, b.TxNotOk));

        var seen = new List<string>();
        while (seen.Count < Kinds.Length + 1 && (line = lines.Next(Timeout)) is not null)
        {
            // "(1700000000.123456) vcan0 123#DEADBEEF"; markers still in flight are skipped.
            string frame = line.Split(' ')[2];
            if (frame.StartsWith($"{Marker:X3}#", StringComparison.Ordinal)) continue;
            // candump prints the whole FD flags nibble; Linux sets FDF (4) in it.
            seen.Add(Regex.Replace(frame, "##([0-9A-F])", m => "##" + (Convert.ToInt32(m.Groups[1].Value, 16) & 3).ToString("X")));
        }
        candump.Kill();
        await candump.WaitForExitAsync();
        // Once each: the two devices' sockets add no copies on the bus.
        Assert.Equal([.. KindsAsCarried, "0B0#0B"], seen);
    }

    [Fact]
    public void A_frame_from_cansend_on_the_host_reaches_both_guests()
    {
        var a = Guest(0);
        var b = Guest(1);

        foreach (string text in Kinds) Vcan.Run("cansend", "vcan0", text);

        Assert.Equal(KindsAsCarried, Received(a, Kinds.Length));
        Assert.Equal(KindsAsCarried, Received(b, Kinds.Length));
        Assert.Equal(0, a.RxDropped + b.RxDropped);
    }

    /// <summary>Within the device's receive backlog (1024) plus the posted buffers, so that no
    /// frame may be lost while each guest is busy sending and reads only afterwards.</summary>
    private const int Burst = 600;

    [Fact]
    public void Two_guests_sending_at_once_hear_each_other_in_order_and_each_gets_its_own_confirmations()
    {
        var a = Guest(0);
        var b = Guest(1);
        using var reader = Vcan.Open("vcan0");
        // Read only after the senders finished: room for all their frames (the default holds some 250).
        reader.RequestReceiveBuffer(4 << 20);
        using var buffer = new CanReceiveBuffer(256);

        var senders = new[] { (Guest: a, Id: 0x1A0u), (Guest: b, Id: 0x1B0u) }
            .Select(s => new Thread(() => SendSequence(s.Guest, s.Id, Burst))).ToArray();
        foreach (var sender in senders) sender.Start();
        foreach (var sender in senders) sender.Join();

        // Every request confirmed, each guest's alone: none lost, none confirmed twice.
        Assert.Equal((Burst, 0L, 0), (a.TxOk, a.TxNotOk, a.TxInFlight));
        Assert.Equal((Burst, 0L, 0), (b.TxOk, b.TxNotOk, b.TxInFlight));

        // A host node sees both guests' frames, each sender's in its order.
        var onBus = new List<(uint Id, uint Sequence)>();
        while (onBus.Count < 2 * Burst)
        {
            int count = Vcan.ReceiveBatch(reader, buffer);
            for (int i = 0; i < count; i++) onBus.Add((buffer.CanId(i), BinaryPrimitives.ReadUInt32LittleEndian(buffer.Frame(i)[8..])));
        }
        Assert.Equal(Enumerable.Range(0, Burst).Select(i => (uint)i), onBus.Where(f => f.Id == 0x1A0).Select(f => f.Sequence));
        Assert.Equal(Enumerable.Range(0, Burst).Select(i => (uint)i), onBus.Where(f => f.Id == 0x1B0).Select(f => f.Sequence));

        // Each guest hears the other's frames, all of them and in order, and none of its own.
        AssertSequence(Received(a, Burst), "1B0");
        AssertSequence(Received(b, Burst), "1A0");
        Assert.Equal(0, a.RxDropped + b.RxDropped);
    }

    private static void SendSequence(VirtioCanGuest guest, uint id, int count)
    {
        Span<byte> payload = stackalloc byte[4];
        for (int sent = 0; sent < count;)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(payload, (uint)sent);
            if (guest.TrySend(CanFrame.Classic(id, false, payload))) { sent++; continue; }
            guest.Flush();
            if (guest.CollectTxCompletions() == 0 && !guest.WaitForTx(Timeout)) return;
        }
        guest.Flush();
        while (guest.TxInFlight > 0 && guest.WaitForTx(Timeout)) guest.CollectTxCompletions();
    }

    private static void AssertSequence(List<string> frames, string id)
    {
        string[] expected = [.. Enumerable.Range(0, Burst).Select(i => $"{id}#{Convert.ToHexString(BitConverter.GetBytes((uint)i))}")];
        Assert.Equal(expected.Length, frames.Count);
        Assert.Equal(expected, frames);
    }

    private static void Tc(params string[] arguments) => Vcan.Run("tc", ["qdisc", .. arguments]);

    [Fact]
    public void A_request_is_confirmed_by_its_own_frame_going_out_not_by_the_same_frame_from_the_other_guest()
    {
        var a = Guest(0);
        var b = Guest(1);
        // vcan0 confirms a frame once it leaves the queue (echo=1); a plug qdisc holds the queue.
        Tc("replace", "dev", "vcan0", "root", "plug", "limit", "1600");

        // The same frame from both guests, B's first; a mark in the plug between them.
        Assert.True(b.TrySend(Parse("070#01")));
        b.Flush();
        Assert.False(b.WaitForTx(Quiet), "B's request completed before its frame went out");
        Tc("change", "dev", "vcan0", "root", "plug", "block");
        Assert.True(a.TrySend(Parse("070#01")));
        a.Flush();

        // Only B's frame goes out: B's request completes, A hears it, A's request still waits.
        Tc("change", "dev", "vcan0", "root", "plug", "release");
        Assert.True(b.WaitForTx(Timeout), $"B's request did not complete:\n{_daemon.Output}");
        Assert.Equal(1, b.CollectTxCompletions());
        Assert.Equal(["070#01"], Received(a, 1));
        Assert.False(a.WaitForTx(TimeSpan.FromMilliseconds(500)), "B's frame confirmed A's request, which is still queued");

        Tc("change", "dev", "vcan0", "root", "plug", "release_indefinite");
        Assert.True(a.WaitForTx(Timeout), $"A's request did not complete:\n{_daemon.Output}");
        Assert.Equal(1, a.CollectTxCompletions());
        Assert.Equal(["070#01"], Received(b, 1));
        Assert.Equal((1L, 0L), (a.TxOk, a.TxNotOk));
        Assert.Equal((1L, 0L), (b.TxOk, b.TxNotOk));
        // Neither heard its own frame.
        Assert.False(a.WaitForRx(Quiet) || b.WaitForRx(TimeSpan.Zero), "a guest received its own frame");
    }

    [Fact]
    public void Interface_down_stops_both_controllers_and_both_start_again_once_it_is_up()
    {
        var a = Guest(0);
        var b = Guest(1);

        Vcan.SetLink("vcan0", "down");
        foreach (var guest in new[] { a, b })
        {
            Assert.True(guest.WaitForConfigChange(Timeout), $"no config-change notification:\n{_daemon.Output}");
            Assert.Equal(VirtioCan.VIRTIO_CAN_S_CTRL_BUSOFF, guest.ReadStatus());
            Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_NOT_OK, guest.SendAndWait(Parse("080#01"), Timeout));
        }

        Vcan.SetLink("vcan0", "up");
        Assert.True(a.Start(Timeout), $"START refused on A after vcan0 came back:\n{_daemon.Output}");
        Assert.True(b.Start(Timeout), $"START refused on B after vcan0 came back:\n{_daemon.Output}");
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(Parse("081#0A"), Timeout));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, b.SendAndWait(Parse("082#0B"), Timeout));
        Assert.Equal(["082#0B"], Received(a, 1));
        Assert.Equal(["081#0A"], Received(b, 1));
    }
}
