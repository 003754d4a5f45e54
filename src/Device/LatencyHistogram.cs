using System.Diagnostics;

namespace VhostDeviceCan.Device;

/// <summary>
/// A fixed-bucket histogram of durations, written by one thread (the device's event loop) and
/// read by any other (a metrics scrape) without a lock and without allocating per observation.
/// </summary>
/// <remarks>
/// Buckets follow the 1-2.5-5 steps per decade from 10 µs to 1 s (<see cref="UpperBoundsSeconds"/>):
/// a TX request answered from the device's own thread lands in the first buckets, one waiting
/// for a LATE_TX_ACK confirmation or behind a busy bus in the middle ones, and anything slower
/// than a second (a guest held back by a stalled bus member) in +Inf. The writer stores each
/// counter with <see cref="Volatile.Write(ref long, long)"/> (one writer: no read-modify-write
/// race), the reader loads with <see cref="Volatile.Read(ref long)"/>. A reader may see an
/// observation in its bucket before its share of <see cref="SumTicks"/>; the count it reports is
/// the sum of the buckets it read, so the exposition is always self-consistent.
/// </remarks>
public sealed class LatencyHistogram
{
    /// <summary>Upper bounds of the finite buckets, seconds, ascending; +Inf is implied.</summary>
    public static readonly IReadOnlyList<double> UpperBoundsSeconds =
    [
        0.000_010, 0.000_025, 0.000_050,
        0.000_100, 0.000_250, 0.000_500,
        0.001, 0.002_5, 0.005,
        0.010, 0.025, 0.050,
        0.100, 0.250, 0.500,
        1.0,
    ];

    private readonly long[] _boundsTicks;
    // One slot per finite bucket plus +Inf, not cumulative.
    private readonly long[] _counts;
    private long _sumTicks;

    public LatencyHistogram()
    {
        _boundsTicks = new long[UpperBoundsSeconds.Count];
        for (int i = 0; i < _boundsTicks.Length; i++)
            _boundsTicks[i] = (long)Math.Round(UpperBoundsSeconds[i] * Stopwatch.Frequency);
        _counts = new long[_boundsTicks.Length + 1];
    }

    /// <summary>Finite buckets plus +Inf.</summary>
    public int BucketCount => _counts.Length;

    /// <summary>Sum of every observation in <see cref="Stopwatch"/> ticks. Any thread.</summary>
    public long SumTicks => Volatile.Read(ref _sumTicks);

    public double SumSeconds => (double)SumTicks / Stopwatch.Frequency;

    /// <summary>Writer's thread only: one duration in <see cref="Stopwatch"/> ticks.</summary>
    public void Observe(long ticks)
    {
        if (ticks < 0) ticks = 0;
        int bucket = 0;
        // Most observations are short, so a scan from the bottom ends early.
        while (bucket < _boundsTicks.Length && ticks > _boundsTicks[bucket]) bucket++;
        Volatile.Write(ref _counts[bucket], _counts[bucket] + 1);
        Volatile.Write(ref _sumTicks, _sumTicks + ticks);
    }

    /// <summary>Any thread: the observations per bucket, not cumulative, the last one +Inf.
    /// <paramref name="destination"/> holds at least <see cref="BucketCount"/>.</summary>
    public void CopyCounts(Span<long> destination)
    {
        for (int i = 0; i < _counts.Length; i++) destination[i] = Volatile.Read(ref _counts[i]);
    }

    /// <summary>Any thread: all observations so far.</summary>
    public long Count
    {
        get
        {
            long total = 0;
            for (int i = 0; i < _counts.Length; i++) total += Volatile.Read(ref _counts[i]);
            return total;
        }
    }
}
