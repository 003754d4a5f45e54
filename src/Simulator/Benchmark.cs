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

    public static int Run(BenchmarkSettings settings)
    {
        var options = new VirtioCanGuestOptions { QueueSize = (ushort)settings.QueueSize };
        using var a = DaemonConnection.Connect(settings.SocketA, options);
        using var b = DaemonConnection.Connect(settings.SocketB, options);
        if (!a.Start() || !b.Start()) return Commands.Refuse("the device refused START");
        // Started, receive buffers posted, and never read again: its device fills them, then its
        // backlog and inbox, and the bus is left to hold senders back and then overrun it.
        using VirtioCanGuest? idle = settings.IdleGuest is { } idleSocket ? DaemonConnection.Connect(idleSocket, options) : null;
        if (idle is not null && !idle.Start()) return Commands.Refuse("the idle guest's device refused START");
        Report("guests", $"{(idle is null ? 2 : 3)} connected, queue size {settings.QueueSize}, features 0x{a.Negotiated:x}"
            + (idle is null ? "" : "; the third takes nothing"));

        int daemonPid = settings.DaemonPid;
        if (daemonPid > 0 && settings.IdleSeconds > 0)
        {
            ProcessStats before = ProcessStats.Read(daemonPid);
            Thread.Sleep(TimeSpan.FromSeconds(settings.IdleSeconds));
            ProcessStats after = ProcessStats.Read(daemonPid);
            Report("idle CPU", $"{Percent(after.CpuSeconds - before.CpuSeconds, settings.IdleSeconds)} over {settings.IdleSeconds:0} s with 2 guests connected");
        }

        if (settings.Unpaced)
        {
            // Loss shows only when nothing paces the sender: this run is the bus's delivery test.
            long lost = Throughput(a, b, settings, settings.Frames, batched: true);
            return lost == 0 ? ExitStatus.Ok : Commands.Refuse($"{lost} frames lost");
        }
        Throughput(a, b, settings, settings.Frames, batched: true);
        Throughput(a, b, settings, Math.Max(settings.Frames / 20, 1000), batched: false);
        long unpacedLost = Throughput(a, b, settings with { Unpaced = true }, settings.Frames, batched: true);
        double roundTrip = Latency(a, b, settings);
        double floor = WakeUpFloor(settings.Samples);
        Report("round trip / floor", $"p50 {roundTrip / floor:0.0}× the wake-up floor's p50 (a round trip crosses 4 wake-ups, the floor 2)");
        if (daemonPid > 0) Report("daemon RSS", $"{ProcessStats.Read(daemonPid).RssKiB / 1024.0:0.0} MiB");
        return unpacedLost == 0 ? ExitStatus.Ok : Commands.Refuse($"{unpacedLost} frames lost unpaced");
    }

    private static CommandFailure NothingArrives(BenchmarkSettings settings, string run) => new(ExitStatus.Refused,
        $"{run}: no frame reached {settings.SocketB} for {settings.Timeout.TotalSeconds:0.#} s (are both sockets on one bus?)");

    /// <summary>Returns the frames sent that never arrived.</summary>
    private static long Throughput(VirtioCanGuest a, VirtioCanGuest b, BenchmarkSettings settings, int frames, bool batched)
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
        string mode = settings.Unpaced ? "unpaced" : batched ? "batched" : "one at a time";
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

        Report($"throughput ({mode})", $"{received / seconds:#,0} frames/s; {frames:#,0} sent, {received:#,0} received, {frames - received} lost, {(ordered ? "in order" : "OUT OF ORDER")}");
        if (daemonPid > 0)
        {
            ProcessStats after = ProcessStats.Read(daemonPid);
            double cpu = after.CpuSeconds - before.CpuSeconds;
            Report($"daemon CPU ({mode})", $"{cpu / Math.Max(received, 1) * 1e6:0.00} s per million frames ({Percent(cpu, seconds)} of one core)");
            if (daemonPid == Environment.ProcessId)
                Report($"allocations ({mode})", $"{(double)allocated / Math.Max(received, 1):0.000} bytes per frame, whole process, steady state");
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
        stop.Cancel();
        echo.Join();
        if (lost * wait >= settings.Timeout) throw NothingArrives(settings, "round trip");
        Array.Sort(rtt);
        Report("round trip", $"p50 {Percentile(rtt, 0.50):0.0} µs, p99 {Percentile(rtt, 0.99):0.0} µs, p99.9 {Percentile(rtt, 0.999):0.0} µs over {samples:#,0} samples, {lost} lost");
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

/// <summary>What <c>bench</c> was asked to measure.</summary>
internal sealed record BenchmarkSettings(string SocketA, string SocketB, int Frames, int Samples, int DaemonPid,
    int QueueSize, double IdleSeconds, TimeSpan Timeout, bool Unpaced = false, string? IdleGuest = null);
