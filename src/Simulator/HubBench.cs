using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using VhostDeviceCan.Can;
using VhostDeviceCan.CommandLine;
using VhostDeviceCan.Guest;

namespace VhostDeviceCan.Simulator;

/// <summary>
/// One CAN bus across daemons, measured: a hub daemon with one cannelloni UDP bridge per bench
/// daemon, N bench daemons on loopback ports with two simulated guests each. Every guest sends at
/// a fixed rate; every other guest receives. Reports frames/s delivered, loss and order, and the
/// one-way latency of frames that crossed the hub (sender and receiver on different daemons).
/// </summary>
internal static class HubBench
{
    public const int MinDaemons = 2;
    public const int MaxDaemons = 16;
    private const int GuestsEach = 2;
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);

    public static int Run(HubBenchSettings settings)
    {
        string daemon = settings.Daemon ?? Path.Combine(AppContext.BaseDirectory, "vhost-device-can");
        if (!File.Exists(daemon))
            throw new CommandFailure(ExitStatus.Usage, $"{daemon}: no vhost-device-can there (give --daemon PATH)");
        string folder = Directory.CreateTempSubdirectory("vhost-can-hub-").FullName;
        var processes = new List<Process>();
        var guests = new List<VirtioCanGuest>();
        try
        {
            string timeout = settings.TimeoutMicroseconds is { } t ? string.Create(CultureInfo.InvariantCulture, $",timeout-us={t}") : "";
            int[] hubPorts = [.. Enumerable.Range(0, settings.Daemons).Select(_ => FreePort())];
            int[] ports = [.. Enumerable.Range(0, settings.Daemons).Select(_ => FreePort())];
            processes.Add(Start(daemon, Path.Combine(folder, "hub.sock"), 1,
                Enumerable.Range(0, settings.Daemons).Select(d => Bridge(hubPorts[d], ports[d], timeout))));
            for (int d = 0; d < settings.Daemons; d++)
                processes.Add(Start(daemon, Path.Combine(folder, $"d{d}.sock"), GuestsEach, [Bridge(ports[d], hubPorts[d], timeout)]));
            for (int d = 0; d < settings.Daemons; d++)
                for (int g = 0; g < GuestsEach; g++)
                {
                    string socket = Path.Combine(folder, $"d{d}.sock{g}");
                    guests.Add(Connect(socket, processes[d + 1]));
                    if (!guests[^1].Start()) return Commands.Refuse($"{socket}: the device refused START");
                }
            Report("setup", $"hub + {settings.Daemons} daemons on loopback UDP, {GuestsEach} guests each, buffer timeout "
                + (settings.TimeoutMicroseconds is { } us ? $"{us} µs" : "100000 µs (default)"));
            return Measure([.. guests], settings);
        }
        finally
        {
            foreach (VirtioCanGuest guest in guests) guest.Dispose();
            foreach (Process process in processes)
            {
                try
                {
                    process.Kill();
                    process.WaitForExit(5000);
                }
                catch (InvalidOperationException)
                {
                }
                process.Dispose();
            }
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
        }
    }

    private static int Measure(VirtioCanGuest[] guests, HubBenchSettings settings)
    {
        int n = guests.Length;
        int perGuest = (int)(settings.RatePerGuest * settings.Seconds);
        var sentAt = new long[n][];
        for (int i = 0; i < n; i++) sentAt[i] = new long[perGuest];
        var results = new Receiver[n];
        var threads = new Thread[n];
        using var go = new ManualResetEventSlim();
        long start = 0;
        for (int i = 0; i < n; i++)
        {
            int self = i;
            threads[i] = new Thread(() =>
            {
                go.Wait();
                results[self] = Member(guests[self], self, n, perGuest, settings, sentAt, Volatile.Read(ref start));
            }) { Name = $"guest {self}" };
            threads[i].Start();
        }
        Report("offered", $"{settings.RatePerGuest:#,0} frames/s per guest, {settings.RatePerGuest * n:#,0} frames/s in all, for {settings.Seconds:0.#} s");
        Volatile.Write(ref start, Stopwatch.GetTimestamp());
        go.Set();
        foreach (Thread thread in threads) thread.Join();

        long delivered = results.Sum(r => r.Accepted), disordered = results.Sum(r => r.Disordered);
        long expected = (long)perGuest * (n - 1) * n;
        long lastArrival = results.Max(r => r.LastArrival);
        double seconds = Stopwatch.GetElapsedTime(start, Math.Max(lastArrival, start + 1)).TotalSeconds;
        var latencies = results.SelectMany(r => r.CrossHub).Order().ToArray();
        Report("delivered", $"{delivered / seconds:#,0} frames/s (sum over receivers); {delivered:#,0} of {expected:#,0} in {seconds:0.00} s");
        Report("loss", $"lost {expected - delivered}, duplicates or out of order {disordered}");
        if (latencies.Length > 0)
            Report("one-way latency via hub", $"p50 {Percentile(latencies, 0.50):0.000} ms, p99 {Percentile(latencies, 0.99):0.000} ms, "
                + $"max {latencies[^1]:0.000} ms ({latencies.Length:#,0} frames)");
        if (expected != delivered || disordered != 0)
            return Commands.Refuse($"{expected - delivered} frames lost, {disordered} duplicates or out of order");
        return ExitStatus.Ok;
    }

    /// <summary>One guest: sends its frames on schedule, takes what arrives; each frame carries its
    /// sender and sequence number, and the sender's clock at sending is kept in <paramref name="sentAt"/>.</summary>
    private static Receiver Member(VirtioCanGuest guest, int self, int count, int perGuest, HubBenchSettings settings, long[][] sentAt, long start)
    {
        var buffer = new CanFrame[64];
        var next = new int[count];
        var result = new Receiver { CrossHub = new List<double>(perGuest * (count - GuestsEach)) };
        Span<byte> payload = stackalloc byte[8];
        payload.Clear();
        payload[4] = (byte)self;
        long expected = (long)perGuest * (count - 1);
        int sent = 0;
        double ticksPerFrame = Stopwatch.Frequency / settings.RatePerGuest;
        long lastProgress = Stopwatch.GetTimestamp();
        while (sent < perGuest || result.Accepted < expected || guest.TxInFlight > 0)
        {
            long now = Stopwatch.GetTimestamp();
            int due = Math.Min(perGuest, (int)((now - start) / ticksPerFrame) + 1);
            bool moved = false;
            while (sent < due)
            {
                BinaryPrimitives.WriteInt32LittleEndian(payload, sent);
                Volatile.Write(ref sentAt[self][sent], Stopwatch.GetTimestamp());
                if (!guest.TrySend(CanFrame.Classic(0x100 + (uint)self, false, payload))) break;
                sent++;
                moved = true;
            }
            if (moved) guest.Flush();
            moved |= guest.CollectTxCompletions() > 0;
            int received = guest.Receive(buffer);
            if (received > 0)
            {
                long arrival = Stopwatch.GetTimestamp();
                result.LastArrival = arrival;
                moved = true;
                for (int i = 0; i < received; i++) Check(buffer[i].Data, self, next, sentAt, arrival, ref result);
            }
            if (moved)
            {
                lastProgress = Stopwatch.GetTimestamp();
                continue;
            }
            if (sent >= perGuest && Stopwatch.GetElapsedTime(lastProgress) >= settings.Patience) break;
            guest.WaitForRx(TimeSpan.FromMilliseconds(0.2));
        }
        return result;
    }

    private static void Check(ReadOnlySpan<byte> data, int self, int[] next, long[][] sentAt, long arrival, ref Receiver result)
    {
        int from = data.Length == 8 ? data[4] : -1;
        if (from < 0 || from >= next.Length || from == self)
        {
            result.Disordered++;
            return;
        }
        int sequence = BinaryPrimitives.ReadInt32LittleEndian(data);
        if (sequence != next[from] || sequence >= sentAt[from].Length)
        {
            result.Disordered++;
            if (sequence < next[from]) return;
        }
        next[from] = sequence + 1;
        result.Accepted++;
        // Only frames between daemons crossed the hub; guests 2d and 2d+1 share daemon d.
        if (from / GuestsEach != self / GuestsEach && sequence < sentAt[from].Length)
            result.CrossHub.Add(Stopwatch.GetElapsedTime(Volatile.Read(ref sentAt[from][sequence]), arrival).TotalMilliseconds);
    }

    private static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];

    private static string Bridge(int bind, int peer, string timeout) =>
        string.Create(CultureInfo.InvariantCulture, $"vbus:default=cannelloni-udp:{bind}@127.0.0.1:{peer}{timeout}");

    private static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    private static Process Start(string daemon, string prefix, int guests, IEnumerable<string> bridges)
    {
        var start = new ProcessStartInfo(daemon)
        {
            UseShellExecute = false,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        foreach (string argument in (string[])["-s", prefix, "-c", guests.ToString(CultureInfo.InvariantCulture), "--control", "none",
            .. bridges.SelectMany(b => new[] { "--bridge", b })])
            start.ArgumentList.Add(argument);
        var process = Process.Start(start) ?? throw new CommandFailure(ExitStatus.Internal, $"cannot start {daemon}");
        // Read and dropped: a full pipe would stop the daemon's logging thread.
        process.ErrorDataReceived += (_, _) => { };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        return process;
    }

    /// <summary>Connects once the daemon has created the socket.</summary>
    private static VirtioCanGuest Connect(string socket, Process daemon)
    {
        var clock = Stopwatch.StartNew();
        while (!File.Exists(socket))
        {
            if (daemon.HasExited) throw new CommandFailure(ExitStatus.Internal, $"the daemon for {socket} exited with status {daemon.ExitCode}");
            if (clock.Elapsed > StartTimeout) throw new CommandFailure(ExitStatus.Unreachable, $"{socket}: not created within {StartTimeout.TotalSeconds} s");
            Thread.Sleep(20);
        }
        return DaemonConnection.Connect(socket);
    }

    private struct Receiver
    {
        public long Accepted;
        public long Disordered;
        public long LastArrival;
        public List<double> CrossHub;
    }

    private static void Report(string what, string value) => Console.WriteLine($"{what,-28} {value}");
}

/// <summary>What <c>bench-hub</c> was asked to measure.</summary>
internal sealed record HubBenchSettings(int Daemons, int RatePerGuest, double Seconds, int? TimeoutMicroseconds, string? Daemon, TimeSpan Patience);
