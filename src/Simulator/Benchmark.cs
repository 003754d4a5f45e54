using VhostDeviceCan.CommandLine;
using System.Diagnostics;
using System.Globalization;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Simulator;

/// <summary>
/// Guest-to-guest figures through a running daemon: two simulated guests on one bus, A sends and
/// B receives. Reports frames/s (paced batches, one at a time, and unpaced with the frames lost),
/// round-trip latency percentiles beside the host's wake-up floor measured in the same run, and
/// with --daemon-pid the daemon's CPU per million frames, idle CPU and RSS. With --idle-guest a
/// third guest on the bus starts its controller and then takes nothing, as a hung guest does.
/// </summary>
internal static class Benchmark
{
    /// <summary>Below the receiving member's inbox (1024 frames), so the paced runs measure the
    /// bus without its back-pressure (--unpaced measures it with).</summary>
    private const long SendWindow = 768;

    /// <summary>Managed bytes allocated per frame in the last unpaced run of an in-process daemon.</summary>
    private static double? s_bytesPerFrame;

    /// <summary>The queue size QEMU's generic vhost-user device uses by default: the full run
    /// repeats the unpaced test at it when another size was asked for.</summary>
    private const int SmallQueueSize = 64;

    public static int Run(BenchmarkSettings settings)
    {
        var options = new VirtioCanGuestOptions { QueueSize = (ushort)settings.QueueSize };
        var goals = new Goals();
        int status;
        using (var a = DaemonConnection.Connect(settings.SocketA, options))
        using (var b = DaemonConnection.Connect(settings.SocketB, options))
        {
            if (!a.Start() || !b.Start()) return Commands.Refuse("the device refused START");
            // In the unpaced-only run the idle guest is there throughout; in the full run it joins
            // for a last unpaced run of its own, after the figures without it.
            bool idleThroughout = settings.Unpaced && settings.IdleGuest is not null;
            using VirtioCanGuest? idle = idleThroughout ? ConnectIdle(settings, options) : null;
            Report("guests", $"{(idle is null ? 2 : 3)} connected, queue size {settings.QueueSize}, features 0x{a.Negotiated:x}"
                + (idle is null ? "" : "; the third takes nothing"));
            status = Measure(a, b, settings, goals);
        }
        if (settings.Unpaced) return status;
        if (settings.QueueSize != SmallQueueSize)
        {
            var small = new VirtioCanGuestOptions { QueueSize = SmallQueueSize };
            using var a = DaemonConnection.Connect(settings.SocketA, small);
            using var b = DaemonConnection.Connect(settings.SocketB, small);
            if (!a.Start() || !b.Start()) return Commands.Refuse("the device refused START");
            Report("guests", $"reconnected with queue size {SmallQueueSize}");
            goals.SmallQueue = Unpaced(a, b, settings with { QueueSize = SmallQueueSize }, $"unpaced, q{SmallQueueSize}");
        }
        if (settings.IdleGuest is not null)
        {
            using var a = DaemonConnection.Connect(settings.SocketA, options);
            using var b = DaemonConnection.Connect(settings.SocketB, options);
            if (!a.Start() || !b.Start()) return Commands.Refuse("the device refused START");
            using VirtioCanGuest idle = ConnectIdle(settings, options);
            Report("guests", $"reconnected with queue size {settings.QueueSize}, and a third guest that takes nothing");
            goals.WithIdleGuest = Unpaced(a, b, settings, $"unpaced, idle guest");
        }
        goals.Report(settings);
        return goals.Lost == 0 ? status : Commands.Refuse($"{goals.Lost} frames lost unpaced");
    }

    /// <summary>Started, receive buffers posted, and never read again: its device fills them, then
    /// its backlog and inbox, and the bus is left to hold senders back and then overrun it.</summary>
    private static VirtioCanGuest ConnectIdle(BenchmarkSettings settings, VirtioCanGuestOptions options)
    {
        VirtioCanGuest idle = DaemonConnection.Connect(settings.IdleGuest!, options);
        if (idle.Start()) return idle;
        idle.Dispose();
        throw new CommandFailure(ExitStatus.Refused, "the idle guest's device refused START");
    }

    private static UnpacedResult Unpaced(VirtioCanGuest a, VirtioCanGuest b, BenchmarkSettings settings, string mode)
    {
        long lost = Throughput(a, b, settings with { Unpaced = true }, settings.Frames, batched: true, out double rate, mode);
        return new UnpacedResult(rate, lost);
    }

    private static int Measure(VirtioCanGuest a, VirtioCanGuest b, BenchmarkSettings settings, Goals goals)
    {

        int daemonPid = settings.DaemonPid;
        if (daemonPid > 0 && settings.IdleSeconds > 0)
        {
            ProcessStats before = ProcessStats.Read(daemonPid);
            Thread.Sleep(TimeSpan.FromSeconds(settings.IdleSeconds));
            ProcessStats after = ProcessStats.Read(daemonPid);
            goals.IdleCpu = (after.CpuSeconds - before.CpuSeconds) / settings.IdleSeconds;
            Report("idle CPU", $"{Percent(after.CpuSeconds - before.CpuSeconds, settings.IdleSeconds)} over {settings.IdleSeconds:0} s with 2 guests connected");
        }

        if (settings.Unpaced)
        {
            // Loss shows only when nothing paces the sender: this run is the bus's delivery test.
            long lost = Throughput(a, b, settings, settings.Frames, batched: true, out _);
            return lost == 0 ? ExitStatus.Ok : Commands.Refuse($"{lost} frames lost");
        }
        Throughput(a, b, settings, settings.Frames, batched: true, out _);
        Throughput(a, b, settings, Math.Max(settings.Frames / 20, 1000), batched: false, out _);
        goals.LargeQueue = Unpaced(a, b, settings, "unpaced");
        goals.BytesPerFrame = s_bytesPerFrame;
        goals.RoundTrip = Latency(a, b, settings);
        goals.Floor = WakeUpFloor(settings.Samples);
        Report("round trip / floor", $"p50 {goals.RoundTrip / goals.Floor:0.0}× the wake-up floor's p50: a round trip crosses 4 thread wake-ups (A's kick wakes the bus thread, which wakes B; B's answer wakes it again, which wakes A), the floor's 2, so 2× is no cost beyond the wake-ups");
        if (daemonPid > 0) Report("daemon RSS", $"{ProcessStats.Read(daemonPid).RssKiB / 1024.0:0.0} MiB");
        return ExitStatus.Ok;
    }

    private static CommandFailure NothingArrives(BenchmarkSettings settings, string run) => new(ExitStatus.Refused,
        $"{run}: no frame reached {settings.SocketB} for {settings.Timeout.TotalSeconds:0.#} s (are both sockets on one bus?)");

    /// <summary>Returns the frames sent that never arrived.</summary>
    private static long Throughput(VirtioCanGuest a, VirtioCanGuest b, BenchmarkSettings settings, int frames, bool batched, out double rate, string? label = null)
    {
        long received = 0;
        long lastArrival = 0;
        bool ordered = true;
        using var abandon = new CancellationTokenSource();
        var receiver = new Thread(() =>
        {
            var buffer = new CanFrame[256];
            uint expected = 0;
            while (Interlocked.Read(ref received) < frames && !abandon.IsCancellationRequested)
            {
                int n = b.Receive(buffer, TimeSpan.FromMilliseconds(100));
                for (int i = 0; i < n; i++)
                {
                    uint sequence = BitConverter.ToUInt32(buffer[i].Data);
                    if (sequence != expected) ordered = false;
                    expected = sequence + 1;
                }
                if (n > 0) Volatile.Write(ref lastArrival, Stopwatch.GetTimestamp());
                Interlocked.Add(ref received, n);
            }
        }) { Name = "receiver" };

        int daemonPid = settings.DaemonPid;
        ProcessStats before = daemonPid > 0 ? ProcessStats.Read(daemonPid) : default;
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        long start = Stopwatch.GetTimestamp();
        receiver.Start();
        string mode = label ?? (settings.Unpaced ? "unpaced" : batched ? "batched" : "one at a time");
        var progress = new ProgressWatch(settings.Timeout, () => Interlocked.Read(ref received));
        try
        {
            Send(a, frames, batched, settings.Unpaced, ref received, progress);
            a.Flush();
            while (a.TxInFlight > 0 && a.WaitForTx(TimeSpan.FromSeconds(5))) a.CollectTxCompletions();
            while (Interlocked.Read(ref received) < frames)
            {
                if (progress.Stalled()) break;
                Thread.Sleep(10);
            }
            if (Interlocked.Read(ref received) == 0) throw NothingArrives(settings, $"throughput ({mode})");
        }
        finally
        {
            abandon.Cancel();
            receiver.Join();
        }
        // Up to the last arrival: waiting out the timeout for frames that were lost is not sending.
        long end = Volatile.Read(ref lastArrival);
        double seconds = Stopwatch.GetElapsedTime(start, end > start ? end : Stopwatch.GetTimestamp()).TotalSeconds;
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        rate = received / seconds;

        Report($"throughput ({mode})", $"{received / seconds:#,0} frames/s; {frames:#,0} sent, {received:#,0} received, {frames - received} lost, {(ordered ? "in order" : "OUT OF ORDER")}");
        if (daemonPid > 0)
        {
            ProcessStats after = ProcessStats.Read(daemonPid);
            double cpu = after.CpuSeconds - before.CpuSeconds;
            Report($"daemon CPU ({mode})", $"{cpu / Math.Max(received, 1) * 1e6:0.00} s per million frames ({Percent(cpu, seconds)} of one core)");
            if (daemonPid == Environment.ProcessId)
                Report($"allocations ({mode})", $"{(double)allocated / Math.Max(received, 1):0.000} bytes per frame, whole process, steady state");
            if (daemonPid == Environment.ProcessId && mode == "unpaced") s_bytesPerFrame = (double)allocated / Math.Max(received, 1);
        }
        return frames - received;
    }

    private static void Send(VirtioCanGuest a, int frames, bool batched, bool unpaced, ref long received, ProgressWatch progress)
    {
        Span<byte> payload = stackalloc byte[8];
        for (uint sent = 0; sent < frames;)
        {
            // Paced: stay within a window of the receiver, so the figure is the bus's throughput
            // without waits for a full inbox. Unpaced, only the device's back-pressure (a full
            // Txq while the receiver's inbox is full) holds the sender back.
            if (!unpaced && sent - Interlocked.Read(ref received) > SendWindow)
            {
                if (progress.Stalled()) return;
                a.Flush();
                a.CollectTxCompletions();
                Thread.SpinWait(64);
                continue;
            }
            BitConverter.TryWriteBytes(payload, sent);
            CanFrame frame = CanFrame.Classic(0x123, false, payload);
            if (a.TrySend(frame))
            {
                sent++;
                if (!batched) { a.Flush(); WaitForCompletion(a); }
                continue;
            }
            a.Flush();
            if (a.CollectTxCompletions() == 0) a.WaitForTx(TimeSpan.FromSeconds(1));
        }
    }

    /// <summary>True once a counter has not moved for a whole timeout.</summary>
    private sealed class ProgressWatch(TimeSpan timeout, Func<long> counter)
    {
        private long _last = -1;
        private readonly Stopwatch _since = Stopwatch.StartNew();

        public bool Stalled()
        {
            long now = counter();
            if (now != _last)
            {
                _last = now;
                _since.Restart();
            }
            return _since.Elapsed >= timeout;
        }
    }

    private static void WaitForCompletion(VirtioCanGuest guest)
    {
        while (guest.CollectTxCompletions() == 0) guest.WaitForTx(TimeSpan.FromSeconds(1));
    }

    /// <summary>Round trips: A sends, B echoes what it receives, A times the answer. Returns the p50 in µs.</summary>
    private static double Latency(VirtioCanGuest a, VirtioCanGuest b, BenchmarkSettings settings)
    {
        int samples = settings.Samples;
        TimeSpan wait = settings.Timeout < TimeSpan.FromSeconds(1) ? settings.Timeout : TimeSpan.FromSeconds(1);
        using var stop = new CancellationTokenSource();
        var echo = new Thread(() =>
        {
            var buffer = new CanFrame[16];
            while (!stop.IsCancellationRequested)
            {
                int n = b.Receive(buffer, TimeSpan.FromMilliseconds(100));
                for (int i = 0; i < n; i++) b.TrySend(buffer[i]);
                if (n > 0) b.Flush();
                b.CollectTxCompletions();
            }
        }) { Name = "echo" };
        echo.Start();
        var rtt = new double[samples];
        int daemonPid = settings.DaemonPid > 0 && settings.DaemonPid != Environment.ProcessId ? settings.DaemonPid : 0;
        long daemonSwitchesBefore = daemonPid > 0 ? ThreadSwitches.Voluntary(daemonPid) : 0;
        long ownSwitchesBefore = ThreadSwitches.Voluntary(Environment.ProcessId);
        var frames = new CanFrame[16];
        int lost = 0;
        for (int i = 0; i < samples; i++)
        {
            long start = Stopwatch.GetTimestamp();
            a.TrySend(CanFrame.Classic(0x7FF, false, BitConverter.GetBytes(i)));
            a.Flush();
            int n = a.Receive(frames, wait);
            rtt[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            if (n == 0) lost++;
            a.CollectTxCompletions();
            if (lost * wait >= settings.Timeout) break;
        }
        long ownSwitches = ThreadSwitches.Voluntary(Environment.ProcessId) - ownSwitchesBefore;
        long daemonSwitches = daemonPid > 0 ? ThreadSwitches.Voluntary(daemonPid) - daemonSwitchesBefore : 0;
        stop.Cancel();
        echo.Join();
        if (lost * wait >= settings.Timeout) throw NothingArrives(settings, "round trip");
        Array.Sort(rtt);
        Report("round trip", $"p50 {Percentile(rtt, 0.50):0.0} µs, p99 {Percentile(rtt, 0.99):0.0} µs, p99.9 {Percentile(rtt, 0.999):0.0} µs over {samples:#,0} samples, {lost} lost");
        // Voluntary context switches: a thread that went to sleep, one per wake-up. Load-independent,
        // unlike the times: the least is 2 in the daemon (its bus thread, once per direction) and
        // 2 in the guests (A waiting for the answer, B for the frame).
        Report("wake-ups per round trip", (daemonPid > 0 ? FormattableString.Invariant($"daemon {(double)daemonSwitches / samples:0.00}, ") : "")
            + FormattableString.Invariant($"{(settings.DaemonPid == Environment.ProcessId ? "guests and devices in this process" : "simulated guests")} {(double)ownSwitches / samples:0.00} (voluntary context switches; the least is 2 in the daemon and 2 in the guests)"));
        return Percentile(rtt, 0.50);
    }

    /// <summary>
    /// What this host charges for waking a thread: two threads bounce a count through eventfds,
    /// each asleep in epoll_wait, so one round trip is two wake-ups and nothing else. A frame's
    /// round trip between two simulated guests on a virtual bus crosses four (two each way: the
    /// bus's event loop, the receiver), so twice this is the least a blocking design can reach.
    /// Returns the p50 in µs.
    /// </summary>
    private static double WakeUpFloor(int samples)
    {
        using var ping = new EventFd();
        using var pong = new EventFd();
        var rtt = new double[samples];
        var echo = new Thread(() =>
        {
            using var epoll = new Epoll();
            epoll.Add(ping.Fd, 0);
            Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];
            for (int i = 0; i < samples; i++)
            {
                while (epoll.Wait(events) == 0) { }
                ping.Consume();
                pong.Signal();
            }
        }) { Name = "wake-up echo" };
        echo.Start();
        using (var epoll = new Epoll())
        {
            epoll.Add(pong.Fd, 0);
            Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];
            for (int i = 0; i < samples; i++)
            {
                long start = Stopwatch.GetTimestamp();
                ping.Signal();
                while (epoll.Wait(events) == 0) { }
                pong.Consume();
                rtt[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            }
        }
        echo.Join();
        Array.Sort(rtt);
        Report("wake-up floor", $"p50 {Percentile(rtt, 0.50):0.0} µs, p99 {Percentile(rtt, 0.99):0.0} µs, p99.9 {Percentile(rtt, 0.999):0.0} µs per 2 thread wake-ups (eventfd + epoll, no daemon)");
        return Percentile(rtt, 0.50);
    }

    private static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];

    private static string Percent(double cpuSeconds, double wallSeconds) =>
        (cpuSeconds / wallSeconds * 100).ToString("0.0", CultureInfo.InvariantCulture) + " %";

    private static void Report(string what, string value) => Console.WriteLine($"{what,-28} {value}");
}

/// <summary>An unpaced run's delivered frames/s and frames lost.</summary>
internal readonly record struct UnpacedResult(double Rate, long Lost);

/// <summary>The figures the virtual bus's goals are stated in, gathered over one full run and
/// printed together at its end.</summary>
internal sealed class Goals
{
    public const double TargetRate = 1_000_000;

    public UnpacedResult? LargeQueue;
    public UnpacedResult? SmallQueue;
    public UnpacedResult? WithIdleGuest;
    public double RoundTrip;
    public double Floor;
    public double? IdleCpu;
    public double? BytesPerFrame;

    public long Lost => (LargeQueue?.Lost ?? 0) + (SmallQueue?.Lost ?? 0) + (WithIdleGuest?.Lost ?? 0);

    public void Report(BenchmarkSettings settings)
    {
        Console.WriteLine("goals");
        if (LargeQueue is { } large)
            Line($"unpaced, q{settings.QueueSize}", $"{large.Rate:#,0} frames/s, {large.Lost} lost", large.Lost == 0 && large.Rate >= TargetRate, "at least 1,000,000 frames/s, 0 lost");
        if (SmallQueue is { } small)
            Line("unpaced, q64", $"{small.Rate:#,0} frames/s, {small.Lost} lost", small.Lost == 0, "0 lost");
        if (WithIdleGuest is { } idle && LargeQueue is { } without)
            Line("with an idle guest", $"{idle.Rate:#,0} frames/s ({idle.Rate / without.Rate * 100:0} % of without), {idle.Lost} lost", idle.Lost == 0,
                "0 lost; the rate within the overrun bound's one stall");
        if (Floor > 0)
            Line("round trip p50", $"{RoundTrip:0.0} µs, {RoundTrip / Floor:0.0}× the floor's {Floor:0.0} µs", RoundTrip <= 2 * Floor, "at most 2× the wake-up floor");
        if (IdleCpu is { } cpu)
            Line("idle CPU", $"{cpu * 100:0.0} %", cpu == 0, "0");
        if (BytesPerFrame is { } bytes)
            Line("allocations", $"{bytes:0.000} bytes per frame (start-up included)", bytes < 1, "0 per frame");
    }

    private static void Line(string what, string measured, bool met, string goal) =>
        Console.WriteLine($"  {what,-26} {measured}: {(met ? "met" : "NOT met")} (goal: {goal})");
}

/// <summary>Voluntary context switches of every thread of a process, from /proc: each is a
/// thread that went to sleep, so their count is the wake-ups, whatever the machine's load.</summary>
internal static class ThreadSwitches
{
    public static long Voluntary(int pid)
    {
        long total = 0;
        foreach (string task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                foreach (string line in File.ReadLines(Path.Combine(task, "status")))
                {
                    if (!line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal)) continue;
                    total += long.Parse(line.AsSpan("voluntary_ctxt_switches:".Length).Trim(), CultureInfo.InvariantCulture);
                }
            }
            catch (IOException)
            {
                // A thread that ended meanwhile.
            }
        }
        return total;
    }
}

/// <summary>What <c>bench</c> was asked to measure.</summary>
internal sealed record BenchmarkSettings(string SocketA, string SocketB, int Frames, int Samples, int DaemonPid,
    int QueueSize, double IdleSeconds, TimeSpan Timeout, bool Unpaced = false, string? IdleGuest = null);
