using System.Diagnostics;
using System.Globalization;
using System.Text;
using VhostDeviceCan.Can;
using VhostDeviceCan.CommandLine;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Simulator;

/// <summary>What replay-bench measures: a log of <see cref="Rate"/> frames a second for
/// <see cref="Seconds"/>, replayed by a running daemon (through <see cref="Control"/>) to
/// <see cref="Target"/>, received by a simulated guest on <see cref="Socket"/>.</summary>
internal sealed record ReplayBenchSettings(string Control, string Socket, string Target, int Rate, double Seconds, TimeSpan Timeout);

/// <summary>
/// The timing accuracy of the daemon's replay, as a guest sees it: every frame's arrival gap
/// against the log's gap (deviation p50 / p99 / max), and every arrival against the log's offset
/// from the first frame (so a drift that adds up shows). Starts nothing itself: it uses a running
/// daemon's control socket and one of its guest sockets.
/// </summary>
internal static class ReplayBench
{
    public static int Run(ReplayBenchSettings settings)
    {
        int count = (int)Math.Round(settings.Rate * settings.Seconds);
        if (count < 2) throw new CommandFailure(ExitStatus.Usage, "--rate times --seconds must make at least 2 frames");
        long periodNanos = 1_000_000_000L / settings.Rate;
        string log = Path.Combine(Path.GetTempPath(), $"replay-bench-{Environment.ProcessId}.log");
        WriteLog(log, count, periodNanos);
        try
        {
            using var guest = DaemonConnection.Connect(settings.Socket);
            if (!guest.Start()) return Commands.Refuse("the device refused START");
            using UnixSocket control = UnixSocket.Connect(settings.Control);
            using (var file = File.OpenHandle(log))
            {
                string request = $"{{\"v\":1,\"id\":1,\"cmd\":\"replay\",\"target\":\"{settings.Target}\",\"detach\":true}}\n";
                control.Send(Encoding.UTF8.GetBytes(request), [(int)file.DangerousGetHandle()]);
            }
            control.SetTimeouts(TimeSpan.FromSeconds(30));
            string reply = ReadLine(control);
            if (!reply.Contains("\"ok\":true", StringComparison.Ordinal)) return Commands.Refuse($"the daemon refused the replay: {reply}");

            long[] arrivals = Receive(guest, count, settings.Timeout, out int received);
            if (received < count) Console.WriteLine($"received {received} of {count} frames before {settings.Timeout.TotalSeconds:0} s without one");
            Report(settings, arrivals.AsSpan(0, received), periodNanos);
            return received == count ? ExitStatus.Ok : ExitStatus.Refused;
        }
        finally
        {
            File.Delete(log);
        }
    }

    private static void WriteLog(string path, int count, long periodNanos)
    {
        using var writer = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 16);
        long start = 1_700_000_000_000_000_000;
        for (int i = 0; i < count; i++)
        {
            long micros = (start + i * periodNanos) / 1000;
            writer.Write(string.Create(CultureInfo.InvariantCulture, $"({micros / 1_000_000}.{micros % 1_000_000:D6}) can0 100#{i:X8}\n"));
        }
    }

    /// <summary>Arrival times (Stopwatch ticks) by sequence number, taken as each batch arrives.</summary>
    private static long[] Receive(VhostDeviceCan.Guest.VirtioCanGuest guest, int count, TimeSpan timeout, out int received)
    {
        var arrivals = new long[count];
        var batch = new CanFrame[256];
        received = 0;
        while (received < count)
        {
            int got = guest.Receive(batch, timeout);
            if (got == 0) break;
            long now = Stopwatch.GetTimestamp();
            for (int i = 0; i < got && received < count; i++)
            {
                int sequence = batch[i].Data[0] << 24 | batch[i].Data[1] << 16 | batch[i].Data[2] << 8 | batch[i].Data[3];
                if (sequence != received) throw new CommandFailure(ExitStatus.Refused, $"frame {sequence} arrived where {received} was due: out of order");
                arrivals[received++] = now;
            }
        }
        return arrivals;
    }

    private static void Report(ReplayBenchSettings settings, ReadOnlySpan<long> arrivals, long periodNanos)
    {
        if (arrivals.Length < 2) return;
        double period = periodNanos / 1e6;
        var gaps = new double[arrivals.Length - 1];
        var offsets = new double[arrivals.Length - 1];
        for (int i = 1; i < arrivals.Length; i++)
        {
            gaps[i - 1] = Math.Abs(Milliseconds(arrivals[i] - arrivals[i - 1]) - period);
            offsets[i - 1] = Milliseconds(arrivals[i] - arrivals[0]) - i * period;
        }
        Array.Sort(gaps);
        Array.Sort(offsets);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"replay of {arrivals.Length} frames at {settings.Rate} Hz ({period:0.###} ms apart) to {settings.Target}, received on {settings.Socket}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  gap deviation |arrival gap - log gap|: p50 {Percentile(gaps, 0.50):0.000} ms, p99 {Percentile(gaps, 0.99):0.000} ms, max {gaps[^1]:0.000} ms"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  offset from the first frame minus the log's: p50 {Percentile(offsets, 0.50):0.000} ms, p99 {Percentile(offsets, 0.99):0.000} ms, max {offsets[^1]:0.000} ms, min {offsets[0]:0.000} ms"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  took {Milliseconds(arrivals[^1] - arrivals[0]) / 1000:0.000} s for a log of {(arrivals.Length - 1) * period / 1000:0.000} s"));
    }

    private static double Milliseconds(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    private static double Percentile(double[] sorted, double share) => sorted[Math.Min(sorted.Length - 1, (int)(share * sorted.Length))];

    private static string ReadLine(UnixSocket socket)
    {
        var line = new List<byte>();
        var one = new byte[1];
        while (socket.Receive(one, null) == 1 && one[0] != '\n') line.Add(one[0]);
        return Encoding.UTF8.GetString([.. line]);
    }
}
