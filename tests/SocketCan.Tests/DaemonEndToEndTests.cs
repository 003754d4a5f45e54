using System.Buffers.Binary;
using System.Diagnostics;
using System.Text.RegularExpressions;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using VhostDeviceCan.Interop;
using VhostDeviceCan.VhostUser;
using VhostDeviceCan.VirtioCanWire;

namespace VhostDeviceCan.SocketCan.Tests;

/// <summary>
/// The daemon between a simulated guest (in this process, over vhost-user) and real SocketCAN,
/// with can-utils and raw sockets as the other nodes on the bus.
/// </summary>
[Trait("Category", "RealCan")]
public sealed class DaemonEndToEndTests : HostCanTest, IClassFixture<DaemonFixture>
{
    private static readonly ulong AllFeatures = new VirtioCanGuestOptions().CanFeatures;
    private readonly DaemonProcess _daemon;

    public DaemonEndToEndTests(DaemonFixture fixture)
    {
        _daemon = fixture.Daemon;
        Assert.False(_daemon.HasExited, $"the daemon died:\n{_daemon.Output}");
    }

    private protected override void RestoreInterfaces()
    {
        Vcan.TryRun("tc", "qdisc", "del", "dev", "vcan1", "root");
        Vcan.TryRun("ip", "link", "set", "vcan0", "up");
    }

    /// <summary>A started guest on device <paramref name="index"/> (vcan0 or vcan1).</summary>
    private VirtioCanGuest Guest(int index = 0, ulong? canFeatures = null)
    {
        var guest = Own(VirtioCanGuest.Connect(_daemon.Socket(index), new VirtioCanGuestOptions
        {
            CanFeatures = canFeatures ?? AllFeatures,
            QueueSize = 256,
            ConnectTimeout = Timeout,
        }));
        Assert.True(guest.Start(Timeout), $"START refused:\n{_daemon.Output}");
        return guest;
    }

    private static List<CanFrame> ReceiveFrames(VirtioCanGuest guest, int count)
    {
        var frames = new List<CanFrame>();
        var buffer = new CanFrame[64];
        var clock = Stopwatch.StartNew();
        while (frames.Count < count && clock.Elapsed < Timeout)
        {
            int n = guest.Receive(buffer, TimeSpan.FromMilliseconds(500));
            frames.AddRange(buffer.AsSpan(0, n).ToArray());
        }
        return frames;
    }

    private static CanFrame Parse(string text) => TestFrames.Parse(text);

    private static readonly string[] Kinds = TestFrames.Kinds;

    [Fact]
    public async Task Frames_from_the_guest_are_seen_by_candump_in_every_kind()
    {
        var guest = Guest();
        using var candump = Vcan.Start("candump", "-L", "vcan0");
        var lines = new BlockingLines(candump);
        using var sync = Vcan.Open("vcan0");
        // candump binds at some unknown moment after start: repeat a marker until it shows.
        var clock = Stopwatch.StartNew();
        string? line = null;
        while (clock.Elapsed < Timeout && line is null)
        {
            Vcan.SendOk(sync, Vcan.Classic(0x7EE));
            line = lines.Next(TimeSpan.FromMilliseconds(100));
        }
        Assert.NotNull(line);

        foreach (string text in Kinds)
            Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, guest.SendAndWait(Parse(text), Timeout));

        var seen = new List<string>();
        while (seen.Count < Kinds.Length && (line = lines.Next(Timeout)) is not null)
        {
            // "(1700000000.123456) vcan0 123#DEADBEEF"; markers still in flight are skipped.
            string frame = line.Split(' ')[2];
            if (frame.StartsWith("7EE#", StringComparison.Ordinal)) continue;
            // candump prints the whole FD flags nibble; Linux sets FDF (4) in it, cansend syntax leaves it implied.
            seen.Add(Regex.Replace(frame, "##([0-9A-F])", m => "##" + (Convert.ToInt32(m.Groups[1].Value, 16) & 3).ToString("X")));
        }
        candump.Kill();
        await candump.WaitForExitAsync();
        // virtio-can 1.4 has no BRS flag, so the guest cannot ask for it: its FD frame goes out
        // without bit rate switching.
        string[] expected = [.. Kinds[..3], Kinds[3].Replace("##1", "##0", StringComparison.Ordinal)];
        Assert.Equal(expected, seen);
    }

    [Fact]
    public void Frames_from_cansend_reach_the_guest_and_brs_arrives_as_plain_fd()
    {
        var guest = Guest();

        foreach (string text in Kinds) Vcan.Run("cansend", "vcan0", text);

        var frames = ReceiveFrames(guest, Kinds.Length);
        // virtio-can 1.4 has no BRS flag: the guest sees an FD frame without it.
        string[] expected = [.. Kinds[..3], Kinds[3].Replace("##1", "##0", StringComparison.Ordinal)];
        Assert.Equal(expected, frames.Select(f => f.ToString()));
        Assert.True(frames[3].IsFd);
        Assert.Equal(0, guest.RxDropped);
    }

    [Fact]
    public void The_guest_never_receives_its_own_frames()
    {
        var guest = Guest();
        using var other = Vcan.Open("vcan0");
        using var peer = Vcan.Open("vcan0");
        using var buffer = new CanReceiveBuffer(16);

        for (int i = 0; i < 10; i++)
            Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, guest.SendAndWait(CanFrame.Classic(0x100 + (uint)i, false, [(byte)i]), Timeout));
        Assert.Equal(10, Vcan.Collect(peer, buffer, 10).Count);
        // Another node's frame sent after them is the first thing the guest gets.
        Vcan.SendOk(other, Vcan.Classic(0x7EE, 0xEE));

        var frames = ReceiveFrames(guest, 1);
        Assert.Equal(["7EE#EE"], frames.Select(f => f.ToString()));
        Assert.False(guest.WaitForRx(TimeSpan.FromMilliseconds(200)), "the guest got more than the other node's frame");
    }

    private const int Bulk = 100_000;

    private static unsafe void SetReceiveBuffer(CanSocket socket, int bytes)
    {
        const int SO_RCVBUFFORCE = 33; // beyond net.core.rmem_max; the tests run as root inside UML
        Assert.Equal(0, Libc.setsockopt(socket.Fd, Libc.SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(int)));
    }

    [Fact]
    public void A_hundred_thousand_frames_from_the_guest_all_reach_the_bus_in_order()
    {
        var guest = Guest();
        using var reader = Vcan.Open("vcan0");
        reader.SetFilters([new Libc.CanFilter { Id = 0x555, Mask = Libc.CAN_SFF_MASK | Libc.CAN_EFF_FLAG | Libc.CAN_RTR_FLAG }]);
        // The counting reader must not be what loses frames: with the default receive buffer
        // (about 200 KiB, some 250 frames) a slow moment of this thread lets the kernel drop
        // frames for it alone while the daemon's own confirmations all arrive.
        SetReceiveBuffer(reader, 16 << 20);
        long received = 0, outOfOrder = 0;
        var readerThread = new Thread(() =>
        {
            using var buffer = new CanReceiveBuffer(256);
            using var epoll = new Epoll();
            epoll.Add(reader.Fd, token: 1);
            var events = new Libc.EpollEvent[1];
            uint expected = 0;
            var idle = Stopwatch.StartNew();
            while (received < Bulk && idle.Elapsed < Timeout)
            {
                epoll.Wait(events, timeoutMs: 200);
                if (reader.Receive(buffer, out int count) != 0 || count == 0) continue;
                idle.Restart();
                for (int i = 0; i < count; i++)
                {
                    uint sequence = BinaryPrimitives.ReadUInt32LittleEndian(buffer.Frame(i)[8..]);
                    if (sequence != expected) outOfOrder++;
                    expected = sequence + 1;
                }
                received += count;
            }
        });
        readerThread.Start();

        Span<byte> payload = stackalloc byte[8];
        var clock = Stopwatch.StartNew();
        for (uint sent = 0; sent < Bulk;)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(payload, sent);
            if (guest.TrySend(CanFrame.Classic(0x555, false, payload))) { sent++; continue; }
            guest.Flush();
            if (guest.CollectTxCompletions() == 0) Assert.True(guest.WaitForTx(Timeout), $"no TX completion after {sent} frames");
        }
        guest.Flush();
        while (guest.TxInFlight > 0) { Assert.True(guest.WaitForTx(Timeout), "TX completions stopped"); guest.CollectTxCompletions(); }
        readerThread.Join();

        Assert.Equal(Bulk, guest.TxOk);
        Assert.Equal(0, guest.TxNotOk);
        Assert.Equal(Bulk, received);
        Assert.Equal(0, outOfOrder);
        Console.WriteLine($"guest -> vcan0: {Bulk} frames in {clock.Elapsed.TotalSeconds:0.00} s");
    }

    /// <summary>
    /// CAN has no flow control: a node that sends faster than a guest takes frames makes the
    /// device drop the newest ones once its backlog (1024) is full. That is by design, so the
    /// bulk run keeps the sender at most <see cref="Window"/> frames ahead of what the guest has
    /// received (well within the backlog): every frame lost is then the daemon's fault.
    /// </summary>
    private const int Window = 512;

    [Fact]
    public void A_hundred_thousand_frames_from_the_bus_all_reach_the_guest_in_order()
    {
        var guest = Guest();
        using var writer = Vcan.Open("vcan0");
        var buffer = new CanFrame[256];
        long sent = 0, received = 0, outOfOrder = 0, foreign = 0;
        uint expected = 0;
        byte[] frame = Vcan.Classic(0x555, 0, 0, 0, 0, 0, 0, 0, 0);
        var clock = Stopwatch.StartNew();
        var idle = Stopwatch.StartNew();
        while (received < Bulk && idle.Elapsed < Timeout)
        {
            for (; sent < Bulk && sent - received < Window; sent++)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(8), (uint)sent);
                Vcan.SendOk(writer, frame);
            }
            int n = guest.Receive(buffer, TimeSpan.FromMilliseconds(500));
            if (n > 0) idle.Restart();
            for (int i = 0; i < n; i++)
            {
                if (buffer[i].CanId != 0x555) { foreign++; continue; }
                uint sequence = BinaryPrimitives.ReadUInt32LittleEndian(buffer[i].Data);
                if (sequence != expected) outOfOrder++;
                expected = sequence + 1;
                received++;
            }
        }

        Assert.Equal(0, foreign);
        Assert.True(received == Bulk, $"{received} of {Bulk} frames reached the guest; daemon log:\n{_daemon.Output}");
        Assert.Equal(0, outOfOrder);
        Assert.Equal(0, guest.RxDropped);
        Console.WriteLine($"vcan0 -> guest: {Bulk} frames in {clock.Elapsed.TotalSeconds:0.00} s");
    }

    [Fact]
    public void A_burst_from_cangen_at_full_speed_reaches_the_guest_whole_and_in_order()
    {
        var guest = Guest();
        // -g 0: no gap, as fast as the kernel takes them; -D i: the 8-byte payload counts up.
        // The burst fits the device's backlog plus the guest's posted buffers, so none may be lost
        // however slowly this process happens to run.
        const int Burst = 1000;
        using var cangen = Vcan.Start("cangen", "vcan0", "-g", "0", "-n", Burst.ToString(), "-I", "555", "-L", "8", "-D", "i");
        Assert.True(cangen.WaitForExit(30_000), "cangen did not finish");
        Assert.Equal(0, cangen.ExitCode);

        var frames = ReceiveFrames(guest, Burst);
        Assert.True(frames.Count == Burst, $"{frames.Count} of {Burst} frames reached the guest; daemon log:\n{_daemon.Output}");
        Assert.All(frames, f => Assert.Equal("555", f.ToString()[..3]));
        Assert.Equal(Enumerable.Range(0, Burst).Select(i => (ulong)i), frames.Select(f => BinaryPrimitives.ReadUInt64LittleEndian(f.Data)));
    }

    [Fact]
    public void Bus_off_from_an_error_frame_stops_the_controller_until_start()
    {
        var guest = Guest();
        using var injector = Vcan.Open("vcan0");
        using var peer = Vcan.Open("vcan0");
        using var buffer = new CanReceiveBuffer(8);
        Assert.Equal(0, guest.ReadStatus());

        Vcan.SendOk(injector, Vcan.Classic(Libc.CAN_ERR_FLAG | Libc.CAN_ERR_BUSOFF, 0, 0, 0, 0, 0, 0, 0, 0));

        Assert.True(guest.WaitForConfigChange(Timeout), $"no config-change notification:\n{_daemon.Output}");
        Assert.Equal(VirtioCan.VIRTIO_CAN_S_CTRL_BUSOFF, guest.ReadStatus());
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_NOT_OK, guest.SendAndWait(CanFrame.Classic(0x42, false, [1]), Timeout));
        // The error frame itself never reaches the guest.
        Assert.Empty(ReceiveFrames(guest, 0));
        Assert.False(guest.WaitForRx(TimeSpan.FromMilliseconds(100)));

        Assert.True(guest.Start(Timeout));
        Assert.Equal(0, guest.ReadStatus());
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, guest.SendAndWait(CanFrame.Classic(0x43, false, [2]), Timeout));
        Assert.Equal([(0x43u, false)], Vcan.Collect(peer, buffer, 1));
        Vcan.SendOk(peer, Vcan.Classic(0x44, 3));
        Assert.Equal(["044#03"], ReceiveFrames(guest, 1).Select(f => f.ToString()));
    }

    [Fact]
    public void Interface_down_stops_the_controller_and_start_works_again_once_it_is_up()
    {
        var guest = Guest();

        Vcan.SetLink("vcan0", "down");
        Assert.True(guest.WaitForConfigChange(Timeout), $"no config-change notification:\n{_daemon.Output}");
        Assert.Equal(VirtioCan.VIRTIO_CAN_S_CTRL_BUSOFF, guest.ReadStatus());
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_NOT_OK, guest.SendAndWait(CanFrame.Classic(0x50, false, [1]), Timeout));
        Assert.False(guest.Start(Timeout), "START accepted while vcan0 is down");

        Vcan.SetLink("vcan0", "up");
        Assert.True(guest.Start(Timeout), $"START refused after vcan0 came back:\n{_daemon.Output}");
        Assert.Equal(0, guest.ReadStatus());
        // Opened now: a socket open across the down gets ENETDOWN once, which is not this test's subject.
        using var peer = Vcan.Open("vcan0");
        using var buffer = new CanReceiveBuffer(8);
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, guest.SendAndWait(CanFrame.Classic(0x51, false, [2]), Timeout));
        Assert.Equal([(0x51u, false)], Vcan.Collect(peer, buffer, 1));
        Vcan.SendOk(peer, Vcan.Classic(0x52, 3));
        Assert.Equal(["052#03"], ReceiveFrames(guest, 1).Select(f => f.ToString()));
    }

    private static void Plug() => Vcan.Run("tc", "qdisc", "replace", "dev", "vcan1", "root", "plug", "limit", "1600");
    private static void Release() => Vcan.Run("tc", "qdisc", "change", "dev", "vcan1", "root", "plug", "release_indefinite");

    [Fact]
    public void With_late_tx_ack_a_request_completes_only_once_the_frame_was_transmitted()
    {
        var guest = Guest(index: 1);
        Assert.True(guest.Has(VirtioCan.VIRTIO_CAN_F_LATE_TX_ACK));
        using var peer = Vcan.Open("vcan1");
        using var buffer = new CanReceiveBuffer(8);
        Plug();

        Assert.True(guest.TrySend(CanFrame.Classic(0x60, false, [6])));
        guest.Flush();
        // Held by the queue: not on the bus, so not complete.
        Assert.False(guest.WaitForTx(TimeSpan.FromMilliseconds(500)), "completed before transmission");
        Assert.False(Vcan.Readable(peer, 0));

        Release();
        Assert.True(guest.WaitForTx(Timeout), "no completion after transmission");
        Span<byte> result = stackalloc byte[1];
        Assert.Equal(1, guest.CollectTxCompletions(result));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, result[0]);
        Assert.Equal([(0x60u, false)], Vcan.Collect(peer, buffer, 1));
    }

    [Fact]
    public void After_stop_a_late_frame_of_the_old_run_neither_completes_a_new_request_nor_reaches_the_guest()
    {
        var guest = Guest(index: 1);
        using var peer = Vcan.Open("vcan1");
        using var buffer = new CanReceiveBuffer(8);
        Plug();
        Assert.True(guest.TrySend(CanFrame.Classic(0x62, false, [1])));
        guest.Flush();
        Assert.False(guest.WaitForTx(TimeSpan.FromMilliseconds(300)), "completed before transmission");

        // STOP answers every request; the one still queued counts as not sent.
        Assert.True(guest.Stop(Timeout));
        Assert.True(guest.WaitForTx(Timeout));
        Span<byte> result = stackalloc byte[1];
        Assert.Equal(1, guest.CollectTxCompletions(result));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_NOT_OK, result[0]);

        Assert.True(guest.Start(Timeout));
        // A mark in the plug qdisc: "release" lets the old frame out but holds the new one.
        Vcan.Run("tc", "qdisc", "change", "dev", "vcan1", "root", "plug", "block");
        Assert.True(guest.TrySend(CanFrame.Classic(0x63, false, [2])));
        guest.Flush();
        Assert.False(guest.WaitForTx(TimeSpan.FromMilliseconds(300)), "completed before transmission");
        Vcan.Run("tc", "qdisc", "change", "dev", "vcan1", "root", "plug", "release");
        Assert.Equal([(0x62u, false)], Vcan.Collect(peer, buffer, 1));
        Assert.False(guest.WaitForTx(TimeSpan.FromMilliseconds(500)), "the old frame's confirmation completed the new request, which is still queued");

        Release();
        Assert.True(guest.WaitForTx(Timeout), "no completion after transmission");
        Assert.Equal(1, guest.CollectTxCompletions(result));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, result[0]);
        Assert.Equal([(0x63u, false)], Vcan.Collect(peer, buffer, 1));
        // The guest's own frames, old or new, never come back to it.
        Assert.False(guest.WaitForRx(TimeSpan.FromMilliseconds(200)), "the guest received its own frame");
    }

    [Fact]
    public void Without_late_tx_ack_a_request_completes_when_written()
    {
        var guest = Guest(index: 1, canFeatures: AllFeatures & ~VirtioFeatures.Bit(VirtioCan.VIRTIO_CAN_F_LATE_TX_ACK));
        Assert.False(guest.Has(VirtioCan.VIRTIO_CAN_F_LATE_TX_ACK));
        using var peer = Vcan.Open("vcan1");
        using var buffer = new CanReceiveBuffer(8);
        Plug();

        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, guest.SendAndWait(CanFrame.Classic(0x61, false, [6]), Timeout));
        // Complete, yet still held by the queue.
        Assert.False(Vcan.Readable(peer, 200));

        Release();
        Assert.Equal([(0x61u, false)], Vcan.Collect(peer, buffer, 1));
    }
}
