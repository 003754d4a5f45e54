using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using VhostDeviceCan.Can;
using VhostDeviceCan.VirtioCanWire;
using Xunit.Abstractions;

namespace VhostDeviceCan.Guest.Tests;

/// <summary>
/// The daemon with the real Linux virtio_can driver: a Linux 7.3 guest under QEMU 11.1 (TCG),
/// booted by tests/guest/run-guest.sh, runs one scenario from tests/guest/scenarios and reports
/// PASS or FAIL on its console. Where a scenario needs a second party on the bus, a simulated
/// guest (VirtioCanGuest) joins the same virtual bus through the daemon's second socket.
/// </summary>
[Trait("Category", "RealGuest")]
public sealed class RealGuestTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Boot = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("fd")]
    [InlineData("classic")]
    public void Driver_binds_and_can0_comes_up(string mode)
    {
        using var daemon = StartDaemon(1, mode == "classic" ? "--no-fd" : "");
        using var guest = QemuGuest.Start("up", daemon.Socket(0), $"vdc.expect={mode}");
        Match? features = guest.WaitForMark("features ([01]+)", Boot);
        ExpectPass(guest, daemon);

        // The guest's view (sysfs, one digit per bit from bit 0) and the daemon's must agree.
        Assert.NotNull(features);
        string bits = features.Groups[1].Value;
        bool Bit(int n) => bits.Length > n && bits[n] == '1';
        Assert.True(Bit(VirtioCan.VIRTIO_CAN_F_CAN_CLASSIC), Report("guest did not ack CAN_CLASSIC", guest, daemon));
        Assert.Equal(mode == "fd", Bit(VirtioCan.VIRTIO_CAN_F_CAN_FD));
        Assert.True(Bit(VirtioCan.VIRTIO_CAN_F_RTR_FRAMES), Report("guest did not ack RTR_FRAMES", guest, daemon));
        Assert.True(Bit(VirtioCan.VIRTIO_CAN_F_LATE_TX_ACK), Report("guest did not ack LATE_TX_ACK", guest, daemon));
        Assert.True(Bit(32), Report("guest did not ack VERSION_1", guest, daemon));

        string expected = "virtio-can features negotiated: CAN_CLASSIC" + (mode == "fd" ? " CAN_FD" : "")
            + " RTR_FRAMES LATE_TX_ACK" + (Bit(28) ? " INDIRECT_DESC" : "") + (Bit(29) ? " EVENT_IDX" : "") + " VERSION_1";
        Assert.True(daemon.Log.WaitFor(new Regex(Regex.Escape(expected) + "$"), Short) is not null,
            Report($"daemon log lacks '{expected}'", guest, daemon));
        output.WriteLine($"{mode}: guest acked feature bits {bits.TrimEnd('0')}");
    }

    private static readonly string[] GuestTxFrames =
    [
        "123#DEADBEEF",
        "12345678#0102030405060708",  // extended
        "321#R",                      // remote, DLC 0
        "456#R3",                     // remote, DLC 3
        "7FF#",
        "1F334455#11",
        "0AB##0" + Hex(64, 0x00),    // FD, 64 bytes
        "1AC##1" + Hex(12, 0x40),    // FD with BRS: arrives as plain FD (virtio-can has no BRS bit)
        "1ABCDEF0##0" + Hex(16, 0x80),// FD, extended
        "000#00",
    ];

    [Fact]
    public void Guest_cansend_reaches_a_simulated_guest_exactly_in_order()
    {
        using var daemon = StartDaemon(2);
        using var sim = StartSim(daemon, 1);
        using var guest = QemuGuest.Start("guest-tx", daemon.Socket(0), "vdc.frames=" + string.Join(',', GuestTxFrames));
        var watch = Stopwatch.StartNew();
        List<string> received = ReceiveCanonical(sim, GuestTxFrames.Length, Boot, guest);
        ExpectPass(guest, daemon);
        // Exactly those: nothing more arrives once the guest has seen all of them completed.
        received.AddRange(ReceiveCanonical(sim, int.MaxValue, TimeSpan.FromSeconds(1), null));
        Assert.Equal(GuestTxFrames.Select(Frames.Canonical), received);
        output.WriteLine($"{received.Count} frames guest -> simulator, boot to power-off {watch.Elapsed.TotalSeconds:F1} s");
    }

    private static readonly string[] SimTxFrames =
    [
        "123#DEADBEEF",
        "12345678#0102030405060708",
        "321#R",
        "456#R3",
        "7FF#",
        "000#",
        "0AB##0" + Hex(64, 0x10),
        "1AC##0" + Hex(12, 0x50),
        "1ABCDEF0##0" + Hex(20, 0x90),
        "1FFFFFFF#FF",
    ];

    [Fact]
    public void Simulated_frames_reach_candump_in_the_guest_exactly_in_order()
    {
        using var daemon = StartDaemon(2);
        using var sim = StartSim(daemon, 1);
        using var guest = QemuGuest.Start("guest-rx", daemon.Socket(0), $"vdc.count={SimTxFrames.Length}");
        Assert.True(guest.WaitForMark("listening", Boot) is not null, Report("guest never listened", guest, daemon));
        foreach (string text in SimTxFrames)
            Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, sim.SendAndWait(Frames.Parse(text)));
        ExpectPass(guest, daemon);
        Assert.Equal(SimTxFrames.Select(Frames.Canonical), guest.Received().Select(Frames.FromCandump));
    }

    [Fact]
    public void Two_guests_on_one_bus_talk_both_ways_and_see_their_own_frames_once()
    {
        const int count = 40;
        using var daemon = StartDaemon(2);
        using var a = QemuGuest.Start("pair", daemon.Socket(0), $"vdc.role=a vdc.count={count}");
        using var b = QemuGuest.Start("pair", daemon.Socket(1), $"vdc.role=b vdc.count={count}");
        ExpectPass(a, daemon, b);
        ExpectPass(b, daemon, a);

        static List<string> Sent(int role) => [.. Enumerable.Range(0, count).Select(i => Frames.Canonical(i % 2 == 0
            ? $"{role}{i:X2}#{i:X2}"
            : $"{role}{i:X2}##0{i:X2}0102030405060708090A0B"))];
        foreach (var (guest, own, peer) in new[] { (a, 1, 2), (b, 2, 1) })
        {
            var heard = guest.Received().Select(Frames.FromCandump).ToList();
            // Own frames come back once, from the driver's local echo; a second copy would be the
            // device sending a guest's frames back to it.
            Assert.Equal(Sent(own), heard.Where(f => f[0] == (char)('0' + own)).ToList());
            Assert.Equal(Sent(peer), heard.Where(f => f[0] == (char)('0' + peer)).ToList());
            Assert.Equal(2 * count, heard.Count);
        }
    }

    [Fact]
    public void Bulk_20000_frames_each_way_without_loss()
    {
        const int count = 20_000;
        using var daemon = StartDaemon(2);
        // The largest ring the device allows: headroom for this receiver sharing two cores
        // with an emulated CPU.
        using var sim = StartSim(daemon, 1, new VirtioCanGuestOptions { QueueSize = 1024 });
        using var guest = QemuGuest.Start("bulk", daemon.Socket(0), $"vdc.count={count}", timeoutSeconds: 900);

        // Guest -> simulator: cangen numbers IDs 0, 1, 2, ... modulo 0x800. The simulator takes
        // frames from the moment the guest boots, not from its "tx start" mark: the emulated
        // serial port can deliver that line after cangen has already sent more frames than the
        // buffers on the way hold.
        var frames = new CanFrame[64];
        int received = 0;
        Stopwatch? clock = null;
        DateTime deadline = DateTime.UtcNow + Boot + TimeSpan.FromMinutes(8);
        while (received < count && DateTime.UtcNow < deadline && !guest.HasExited)
        {
            int n = sim.Receive(frames, TimeSpan.FromSeconds(1));
            if (n > 0) clock ??= Stopwatch.StartNew();
            // The report is built only on a mismatch: building it per frame would slow this
            // receiver below the guest's sending rate and the bus would rightly drop frames.
            for (int i = 0; i < n; i++, received++)
                if (frames[i].Id != (uint)(received % 2048) || frames[i].IsFd)
                    Assert.Fail(Report($"frame {received} from the guest is {frames[i]}", guest, daemon));
        }
        double txSeconds = clock?.Elapsed.TotalSeconds ?? 0;
        Assert.True(received > 0 || guest.Console.Snapshot().Any(l => l.Contains("VDC-MARK: tx start")),
            Report("guest never started sending", guest, daemon));
        Assert.True(received == count, Report($"simulator received {received} of {count} frames from the guest", guest, daemon));
        Assert.True(guest.WaitForMark("rx listening", Short) is not null, Report("guest never listened", guest, daemon));

        // Simulator -> guest, never more ahead of what candump has written than the buffers on
        // the way hold (virtual-bus inbox and device backlog, 1024 frames each): a CAN bus has no
        // flow control, so a faster sender would rightly lose frames.
        const int window = 1000;
        var progress = new Regex(@"VDC-MARK: rx (\d+)");
        int reported = 0, sent = 0, lastMark = 0;
        clock = Stopwatch.StartNew();
        Span<byte> data = stackalloc byte[8];
        while (sent < count)
        {
            while (sent < count && sent < reported + window)
            {
                data.Clear();
                BinaryPrimitives.WriteUInt32BigEndian(data, (uint)sent);
                var frame = CanFrame.Classic((uint)(sent % 2048), false, data);
                while (!sim.TrySend(frame))
                {
                    sim.Flush();
                    sim.WaitForTx(TimeSpan.FromSeconds(5));
                    sim.CollectTxCompletions();
                }
                sent++;
            }
            sim.Flush();
            sim.CollectTxCompletions();
            if (sent == count) break;
            var mark = guest.Console.WaitFor(progress, TimeSpan.FromSeconds(60), lastMark);
            Assert.True(mark is not null, Report($"guest reported no progress after {reported} of {sent} frames", guest, daemon));
            lastMark = mark.Value.Index + 1;
            reported = Math.Max(reported, int.Parse(mark.Value.Match.Groups[1].Value, CultureInfo.InvariantCulture));
        }
        ExpectPass(guest, daemon, timeout: TimeSpan.FromMinutes(5));
        double rxSeconds = clock.Elapsed.TotalSeconds;
        Assert.Equal(0, sim.TxNotOk);
        output.WriteLine($"guest -> simulator: {count} frames in {txSeconds:F1} s = {count / txSeconds:F0} frames/s");
        output.WriteLine($"simulator -> guest: {count} frames in {rxSeconds:F1} s = {count / rxSeconds:F0} frames/s (to candump's last line)");
    }

    [Fact]
    public void ID_filters_and_rate_limit_hold_for_the_real_driver()
    {
        const int burst = 100;
        using var daemon = StartDaemon(2, "--tx-filter 0=100-1FF --rx-filter 0=200-2FF --tx-rate 0=200/20");
        using var sim = StartSim(daemon, 1);
        using var guest = QemuGuest.Start("isolation", daemon.Socket(0));

        // TX: 123 passes, 321 is refused; the simulator hears only 123.
        Assert.Equal(["123#01"], ReceiveCanonical(sim, 1, Boot, guest));
        Assert.True(guest.WaitForMark("filtered tx done", Short) is not null, Report("guest did not finish its filtered sends", guest, daemon));
        Assert.Empty(ReceiveCanonical(sim, int.MaxValue, TimeSpan.FromSeconds(1), null));

        // RX: 350 is outside the guest's filter, 250 inside.
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, sim.SendAndWait(Frames.Parse("350#03")));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, sim.SendAndWait(Frames.Parse("250#04")));

        // A burst past the budget of 200 frames/s with bursts of 20 arrives whole, paced.
        Assert.True(guest.WaitForMark("burst start", Short) is not null, Report("guest never started its burst", guest, daemon));
        // Timed from the first frame, not from the mark: a busy host shows the guest's console late.
        List<string> paced = ReceiveCanonical(sim, 1, TimeSpan.FromSeconds(60), guest);
        var clock = Stopwatch.StartNew();
        paced.AddRange(ReceiveCanonical(sim, burst - 1, TimeSpan.FromSeconds(60), guest));
        TimeSpan took = clock.Elapsed;
        ExpectPass(guest, daemon);

        Assert.Equal(["can0 250#04"], guest.Received());
        Assert.Equal(Enumerable.Range(0, burst).Select(i => $"1A0#{i & 0xFF:X2}"), paced);
        // 80 frames past the burst at 200 frames/s cannot take less than 400 ms after the first.
        Assert.True(took >= TimeSpan.FromMilliseconds(350), $"{burst} frames arrived in {took.TotalMilliseconds:0} ms");
        Assert.Contains(daemon.Log.Snapshot(), l => l.Contains("can.sock0: guest sent 321#02, outside its TX filter 100-1FF"));
        output.WriteLine($"burst of {burst} frames at --tx-rate 200/20: {took.TotalSeconds:F2} s");
    }

    [Fact]
    public void Link_down_and_up_during_traffic_stops_and_resumes_it()
    {
        const int rounds = 3;
        using var daemon = StartDaemon(2);
        using var sim = StartSim(daemon, 1);
        using var guest = QemuGuest.Start("stop-start", daemon.Socket(0), $"vdc.rounds={rounds}");
        Assert.True(guest.WaitForMark("round 1 listening", Boot) is not null, Report("guest never listened", guest, daemon));

        // Live traffic while the guest toggles its link: a frame every 5 ms, until it is done.
        var heard = new List<string>();
        var frames = new CanFrame[16];
        uint counter = 0;
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromMinutes(4);
        Span<byte> payload = stackalloc byte[4];
        while (!guest.HasExited && DateTime.UtcNow < deadline)
        {
            BinaryPrimitives.WriteUInt32BigEndian(payload, counter++);
            if (sim.TrySend(CanFrame.Classic(0x300, false, payload))) sim.Flush();
            sim.CollectTxCompletions();
            int n = sim.Receive(frames, TimeSpan.FromMilliseconds(5));
            for (int i = 0; i < n; i++) heard.Add(Frames.Canonical(frames[i]));
        }
        ExpectPass(guest, daemon);
        Assert.Equal(Enumerable.Range(1, rounds).Select(r => $"5A0#{r:X2}"), heard);
        // Each later round went through STOP and START.
        int starts = daemon.Log.Snapshot().Count(l => l.Contains("can.sock0") && l.Contains("controller started"));
        Assert.True(starts >= rounds, Report($"{starts} controller starts on sock0, expected {rounds}", guest, daemon));
        output.WriteLine($"{counter} frames streamed during {rounds} rounds of down/up");
    }

    [Fact]
    public void Bus_off_reaches_the_guest_and_its_restart_recovers()
    {
        using var daemon = StartDaemon(2);
        using var sim = StartSim(daemon, 1);
        using var guest = QemuGuest.Start("bus-off", daemon.Socket(0));
        for (int round = 1; round <= 2; round++)
        {
            Assert.True(guest.WaitForMark($"up {round}", Boot) is not null, Report($"round {round}: guest not up", guest, daemon));
            int configChanges = sim.ConfigChangeCount;
            daemon.Signal("USR1");
            // The simulated guest shares the bus, so it goes bus-off too; it restarts at once.
            Assert.True(sim.WaitForConfigChange(Short) || sim.ConfigChangeCount > configChanges,
                Report($"round {round}: the simulated guest got no config change", guest, daemon));
            Assert.Equal(VirtioCan.VIRTIO_CAN_S_CTRL_BUSOFF, sim.ReadStatus());
            Assert.True(sim.Start(), "START after bus-off refused");
            Assert.Equal(0, sim.ReadStatus());

            Assert.True(guest.WaitForMark($"bus-off {round}", Boot) is not null, Report($"round {round}: guest never saw BUS-OFF", guest, daemon));
            // The guest repeats 5B0#0<round> until it hears 5B1#0<round>.
            List<string> first = ReceiveCanonical(sim, 1, Boot, guest);
            Assert.Equal($"5B0#{round:X2}", first.SingleOrDefault());
            Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, sim.SendAndWait(Frames.Parse($"5B1#{round:X2}")));
        }
        ExpectPass(guest, daemon);
        string[] log = daemon.Log.Snapshot();
        Assert.Equal(2, log.Count(l => l.Contains("can.sock0") && l.Contains("bus-off reported to the guest")));
    }

    [Fact]
    public void Fault_injection_refused_TX_and_forced_bus_off_show_in_the_guests_ip_link()
    {
        using var daemon = StartDaemon(2, "--fault 0=tx:refuse-every=2 --fault 0=bus-off-after=3,recover=restart");
        using var sim = StartSim(daemon, 1);
        using var guest = QemuGuest.Start("faults", daemon.Socket(0));
        Assert.True(guest.WaitForMark("refused 2", Boot) is not null, Report("the guest's tx_dropped never counted the 2 refused frames", guest, daemon));
        Assert.True(guest.WaitForMark("bus-off 1", Boot) is not null, Report("the guest never showed BUS-OFF with bus-off count 1", guest, daemon));
        Match? restarted = guest.WaitForMark(@"restarted, tx_dropped (\d+)", Boot);
        Assert.True(restarted is not null, Report("the guest did not recover by its restart", guest, daemon));
        ExpectPass(guest, daemon);
        // Frame 5's completion may reach the driver after the bus-off, which then counts it as dropped too.
        Assert.Contains(restarted.Groups[1].Value, new[] { "3", "4" });
        // Exactly the frames neither refused nor sent while bus-off crossed the bus.
        List<string> heard = ReceiveCanonical(sim, 4, Short, null);
        heard.AddRange(ReceiveCanonical(sim, int.MaxValue, TimeSpan.FromSeconds(1), null));
        Assert.Equal(["5C0#01", "5C0#03", "5C0#05", "5C0#07"], heard);
        string[] log = daemon.Log.Snapshot();
        Assert.Single(log, l => l.Contains("can.sock0") && l.Contains("bus-off reported to the guest"));
        daemon.Signal("USR2");
        Assert.True(daemon.Log.WaitFor(new Regex(@"SIGUSR2: \S+can\.sock0 .*faults: .*tx refused 3, .*bus-offs 1, recoveries 1, "), Short) is not null,
            Report("the SIGUSR2 report does not count 3 refusals and 1 bus-off with its recovery", guest, daemon));
        // What the guest's ip showed, for the record.
        string[] console = [.. guest.Console.Snapshot()];
        for (int i = 0; i < console.Length; i++)
        {
            string line = console[i];
            if (line.Contains("VDC-MARK") || line.Contains(" state ")) output.WriteLine(line.Trim());
            // Counter headers: the values are on the next line.
            if ((line.Contains("re-started") || line.Contains("TX:")) && i + 1 < console.Length) output.WriteLine($"{line.Trim()} / {console[i + 1].Trim()}");
        }
    }

    [Fact]
    public void Qemu_killed_and_restarted_against_the_same_daemon_works_and_leaks_nothing()
    {
        const int cycles = 4;
        using var daemon = StartDaemon(2);
        using var sim = StartSim(daemon, 1);
        int fdsBefore = 0;
        long rssBefore = 0;
        for (int cycle = 0; cycle < cycles; cycle++)
        {
            int logFrom = daemon.Log.Count;
            using var guest = QemuGuest.Start("hold", daemon.Socket(0), $"vdc.tag={cycle:X2}");
            Assert.True(guest.WaitForMark("ready", Boot) is not null, Report($"cycle {cycle}: guest not ready", guest, daemon));
            Assert.Equal($"6C0#{cycle:X2}", ReceiveCanonical(sim, 1, Short, guest).SingleOrDefault());
            guest.KillQemu();
            Assert.NotEqual(0, guest.WaitForExit(Short));
            Assert.True(daemon.Log.WaitFor(new Regex(@"can\.sock0: front-end disconnected"), Short, logFrom) is not null,
                Report($"cycle {cycle}: no disconnect after SIGKILL", guest, daemon));
            // The first session maps guest RAM and warms up the daemon; later ones must return
            // to what it held after that one.
            if (cycle == 0)
            {
                fdsBefore = daemon.FdCount;
                rssBefore = daemon.RssKiB;
            }
            output.WriteLine($"after kill {cycle}: {daemon.FdCount} fds, VmRSS {daemon.RssKiB} KiB");
        }
        int fdsAfter = daemon.FdCount;
        long rssAfter = daemon.RssKiB;
        Assert.True(fdsAfter == fdsBefore, $"daemon fds {fdsBefore} -> {fdsAfter}\n{daemon.Log.Tail(30)}");
        Assert.True(rssAfter - rssBefore < 4096, $"daemon VmRSS {rssBefore} -> {rssAfter} KiB");
        Assert.DoesNotContain(daemon.Log.Snapshot(), l => l.Contains(" fail:") || l.Contains(" crit:"));
    }

    [Fact]
    public void Guest_poweroff_ends_the_session_cleanly()
    {
        using var daemon = StartDaemon(1);
        using var guest = QemuGuest.Start("up", daemon.Socket(0), "vdc.expect=fd");
        ExpectPass(guest, daemon);
        Assert.True(daemon.Log.WaitFor(new Regex(@"can\.sock0: front-end disconnected: the front-end closed the connection"), Short) is not null,
            Report("no clean disconnect after poweroff", guest, daemon));
        Assert.True(daemon.Log.WaitFor(new Regex(@"can\.sock0: all queues stopped; device reset"), TimeSpan.Zero) is not null,
            Report("the guest's shutdown did not stop the queues", guest, daemon));
        Assert.DoesNotContain(daemon.Log.Snapshot(), l => l.Contains(" warn:") || l.Contains(" fail:") || l.Contains(" crit:"));
    }

    // ---- helpers ----

    /// <summary>The published daemon at debug level, so a failing scenario's report shows every refusal.</summary>
    private static DaemonProcess StartDaemon(int sockets, string extraArguments = "") =>
        DaemonProcess.Start(sockets, ["-l", "debug", .. extraArguments.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);

    private static VirtioCanGuest StartSim(DaemonProcess daemon, int socket, VirtioCanGuestOptions? options = null)
    {
        var sim = VirtioCanGuest.Connect(daemon.Socket(socket), options);
        if (!sim.Start())
        {
            sim.Dispose();
            throw new InvalidOperationException("the simulated guest's START was refused");
        }
        return sim;
    }

    /// <summary>Up to <paramref name="count"/> frames within <paramref name="timeout"/>, canonical;
    /// stops early when <paramref name="guest"/> has ended and nothing more comes.</summary>
    private static List<string> ReceiveCanonical(VirtioCanGuest sim, int count, TimeSpan timeout, QemuGuest? guest)
    {
        var result = new List<string>();
        var frames = new CanFrame[64];
        DateTime deadline = DateTime.UtcNow + timeout;
        while (result.Count < count)
        {
            TimeSpan left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) break;
            int n = sim.Receive(frames.AsSpan(0, Math.Min(frames.Length, count - result.Count)), left < TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1));
            for (int i = 0; i < n; i++) result.Add(Frames.Canonical(frames[i]));
            if (n == 0 && guest is { HasExited: true }) break;
        }
        return result;
    }

    private void ExpectPass(QemuGuest guest, DaemonProcess daemon, QemuGuest? other = null, TimeSpan? timeout = null)
    {
        int status = guest.WaitForExit(timeout ?? TimeSpan.FromMinutes(5));
        string? result = guest.Result;
        output.WriteLine($"{guest.Scenario}: run-guest.sh exit {status}, {result ?? "no result"}");
        Assert.True(status == 0 && result == "PASS", Report($"guest scenario '{guest.Scenario}' ended with exit {status}: {result ?? "no VDC-RESULT"}", guest, daemon, other));
    }

    private static string Report(string what, QemuGuest guest, DaemonProcess daemon, QemuGuest? other = null) =>
        $"{what}\n--- guest console ({guest.Scenario}), last lines ---\n{guest.Console.Tail(40)}\n"
        + (other is null ? "" : $"--- other guest console, last lines ---\n{other.Console.Tail(25)}\n")
        + $"--- daemon log, last lines ---\n{daemon.Log.Tail(40)}";

    private static string Hex(int length, int first) =>
        string.Concat(Enumerable.Range(0, length).Select(i => ((first + i) & 0xFF).ToString("X2", CultureInfo.InvariantCulture)));
}
