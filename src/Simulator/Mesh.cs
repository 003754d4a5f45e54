using VhostDeviceCan.CommandLine;
using System.Buffers.Binary;
using System.Diagnostics;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;

namespace VhostDeviceCan.Simulator;

/// <summary>
/// How the virtual bus scales with its members: N simulated guests on one bus, each on its own
/// thread, each sending its share of the frames unpaced while receiving what all the others
/// send. Every frame carries its sender's index and sequence number, so each receiver checks
/// per-sender order and counts loss and duplicates.
/// </summary>
internal static class Mesh
{
    public const int MinGuests = 2;
    public const int MaxGuests = 64;

    /// <summary>How long an idle guest sleeps on its receive queue before it looks at its
    /// transmit queue again: one thread serves both, as one virtio-can driver does.</summary>
    private static readonly TimeSpan IdleWait = TimeSpan.FromMilliseconds(1);

    public static int Run(MeshSettings settings) => Run(settings, out _);

    /// <summary>As <see cref="Run(MeshSettings)"/>, and the run's figures for a table.</summary>
    public static int Run(MeshSettings settings, out MeshRow row)
    {
        row = default;
        int count = settings.Guests;
        var options = new VirtioCanGuestOptions { QueueSize = (ushort)settings.QueueSize };
        var guests = new VirtioCanGuest[count];
        try
        {
            for (int i = 0; i < count; i++) guests[i] = DaemonConnection.Connect(settings.Socket(i), options);
            for (int i = 0; i < count; i++)
                if (!guests[i].Start()) return Commands.Refuse($"{settings.Socket(i)}: the device refused START");
            return Measure(guests, settings, out row);
        }
        finally
        {
            foreach (VirtioCanGuest? guest in guests) guest?.Dispose();
        }
    }

    private static int Measure(VirtioCanGuest[] guests, MeshSettings settings, out MeshRow row)
    {
        int count = guests.Length;
        int share = Math.Max(settings.Frames / count, 1);
        long expectedPerGuest = (long)share * (count - 1);
        var results = new MemberResult[count];
        using var go = new ManualResetEventSlim();
        var threads = new Thread[count];
        for (int i = 0; i < count; i++)
        {
            int index = i;
            threads[i] = new Thread(() =>
            {
                go.Wait();
                results[index] = Member(guests[index], index, count, share, expectedPerGuest, settings.Timeout);
            }) { Name = $"guest {index}" };
            threads[i].Start();
        }
        Report("guests", $"{count} connected, queue size {settings.QueueSize}, {share:#,0} frames sent by each ({(long)share * count:#,0} in all)");

        int daemonPid = settings.DaemonPid;
        ProcessStats before = daemonPid > 0 ? ProcessStats.Read(daemonPid) : default;
        long start = Stopwatch.GetTimestamp();
        go.Set();
        foreach (Thread thread in threads) thread.Join();
        ProcessStats after = daemonPid > 0 ? ProcessStats.Read(daemonPid) : default;

        long delivered = 0, disordered = 0, stray = 0, lastArrival = start;
        foreach (MemberResult result in results)
        {
            delivered += result.Accepted;
            disordered += result.Disordered;
            stray += result.Stray;
            lastArrival = Math.Max(lastArrival, result.LastArrival);
        }
        long expected = expectedPerGuest * count;
        long lost = expected - delivered;
        double seconds = Stopwatch.GetElapsedTime(start, lastArrival).TotalSeconds;
        Report("delivered", $"{delivered / Math.Max(seconds, 1e-9):#,0} frames/s (sum over receivers); {delivered:#,0} of {expected:#,0} in {seconds:0.000} s");
        Report("loss", $"lost {lost}, duplicates or out of order {disordered}, not from another member {stray}");
        double? cpuPerFrame = daemonPid > 0 ? (after.CpuSeconds - before.CpuSeconds) / Math.Max(delivered, 1) * 1e6 : null;
        row = new MeshRow(count, delivered / Math.Max(seconds, 1e-9), cpuPerFrame, lost, disordered + stray);
        if (daemonPid > 0)
        {
            double cpu = after.CpuSeconds - before.CpuSeconds;
            Report("daemon CPU", $"{cpu / Math.Max(delivered, 1) * 1e6:0.000} µs per delivered frame ({cpu / Math.Max(seconds, 1e-9) * 100:0.0} % of one core)");
        }
        if (lost != 0 || disordered != 0 || stray != 0)
            return Commands.Refuse($"{lost} frames lost, {disordered} duplicates or out of order, {stray} not from another member");
        return ExitStatus.Ok;
    }

    /// <summary>One guest's loop: queue what the transmit ring takes, collect completions, take
    /// what arrived; sleep on the receive queue only when nothing moved.</summary>
    private static MemberResult Member(VirtioCanGuest guest, int self, int count, int share, long expected, TimeSpan timeout)
    {
        var buffer = new CanFrame[64];
        var next = new uint[count];
        Span<byte> payload = stackalloc byte[8];
        payload.Clear();
        payload[4] = (byte)self;
        uint sent = 0;
        var result = new MemberResult();
        long lastProgress = Stopwatch.GetTimestamp();
        while (sent < share || result.Accepted < expected || guest.TxInFlight > 0)
        {
            bool moved = false;
            int queued = 0;
            while (sent < share)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(payload, sent);
                if (!guest.TrySend(CanFrame.Classic(0x100 + (uint)self, false, payload))) break;
                sent++;
                queued++;
            }
            if (queued > 0) guest.Flush();
            moved |= guest.CollectTxCompletions() > 0;
            int n = guest.Receive(buffer);
            if (n > 0)
            {
                result.LastArrival = Stopwatch.GetTimestamp();
                moved = true;
            }
            for (int i = 0; i < n; i++) Check(buffer[i].Data, self, next, ref result);
            if (moved)
            {
                lastProgress = Stopwatch.GetTimestamp();
                continue;
            }
            if (Stopwatch.GetElapsedTime(lastProgress) >= timeout) break;
            guest.WaitForRx(IdleWait);
        }
        return result;
    }

    private static void Check(ReadOnlySpan<byte> data, int self, uint[] next, ref MemberResult result)
    {
        int from = data.Length == 8 ? data[4] : -1;
        if (from < 0 || from >= next.Length || from == self)
        {
            result.Stray++;
            return;
        }
        uint sequence = BinaryPrimitives.ReadUInt32LittleEndian(data);
        if (sequence < next[from])
        {
            // A duplicate, or a frame that arrived after a later one (counted when it was skipped).
            result.Disordered++;
            return;
        }
        if (sequence > next[from]) result.Disordered++;
        next[from] = sequence + 1;
        result.Accepted++;
    }

    private struct MemberResult
    {
        public long Accepted;
        public long Disordered;
        public long Stray;
        public long LastArrival;
    }

    private static void Report(string what, string value) => Console.WriteLine($"{what,-28} {value}");
}

/// <summary>One mesh run: delivered frames/s summed over the receivers, the daemon's CPU µs per
/// delivered frame (with its pid), frames lost, and frames duplicated, out of order or stray.</summary>
internal readonly record struct MeshRow(int Guests, double Delivered, double? CpuMicrosPerFrame, long Lost, long Disordered);

/// <summary>What <c>mesh</c> was asked to measure: sockets PREFIX0 to PREFIX{Guests-1}.</summary>
internal sealed record MeshSettings(string SocketPrefix, int Guests, int Frames, int QueueSize, int DaemonPid, TimeSpan Timeout)
{
    public string Socket(int index) => SocketPrefix + index.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
