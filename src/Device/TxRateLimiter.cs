using System.Diagnostics;

namespace VhostDeviceCan.Device;

/// <summary>A guest's transmit budget: on average at most FramesPerSecond, in bursts of up to
/// Burst frames (--tx-rate SOCKET=RATE[/BURST]).</summary>
public sealed record TxRate(int FramesPerSecond, int Burst)
{
    /// <summary>A tenth of a second's worth of frames, at least one.</summary>
    public static int DefaultBurst(int framesPerSecond) => Math.Max(1, framesPerSecond / 10);

    /// <summary>Highest rate or burst; a CAN FD bus carries far fewer frames per second.</summary>
    public const int Max = 10_000_000;

    public override string ToString() => $"{FramesPerSecond} frames/s, bursts of {Burst}";

    /// <summary>"RATE" or "RATE/BURST", frames per second and frames (--tx-rate's syntax); null and
    /// a one-line reason when it is not.</summary>
    public static TxRate? Parse(string text, out string? error)
    {
        const System.Globalization.NumberStyles Digits = System.Globalization.NumberStyles.None;
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        error = null;
        int slash = text.IndexOf('/');
        string rateText = slash < 0 ? text : text[..slash];
        if (!int.TryParse(rateText, Digits, invariant, out int rate) || rate is < 1 or > Max)
        {
            error = $"the rate must be a whole number of frames per second from 1 to {Max}";
            return null;
        }
        int burst = DefaultBurst(rate);
        if (slash >= 0 && (!int.TryParse(text.AsSpan(slash + 1), Digits, invariant, out burst) || burst is < 1 or > Max))
        {
            error = $"the burst must be a whole number of frames from 1 to {Max}";
            return null;
        }
        return new TxRate(rate, burst);
    }
}

/// <summary>
/// Paces transmissions to a <see cref="TxRate"/> by virtual scheduling (the generic cell rate
/// algorithm): each frame moves a theoretical arrival time one interval on, and a frame may go
/// while that time is less than a burst's worth of intervals ahead of now. Integer ticks, no
/// allocation, one comparison per frame.
/// </summary>
public sealed class TxRateLimiter
{
    private readonly long _interval;
    private readonly long _tolerance;
    private long _theoreticalArrival;

    public TxRateLimiter(TxRate rate, long ticksPerSecond)
    {
        if (rate.FramesPerSecond <= 0 || rate.Burst <= 0) throw new ArgumentOutOfRangeException(nameof(rate));
        Rate = rate;
        _interval = Math.Max(1, ticksPerSecond / rate.FramesPerSecond);
        _tolerance = (rate.Burst - 1) * _interval;
    }

    public TxRateLimiter(TxRate rate) : this(rate, Stopwatch.Frequency) { }

    public TxRate Rate { get; }

    public bool CanSend(long now) => now >= _theoreticalArrival - _tolerance;

    public void Sent(long now) => _theoreticalArrival = Math.Max(_theoreticalArrival, now) + _interval;

    /// <summary>Ticks from <paramref name="now"/> until <see cref="CanSend"/> holds again.</summary>
    public long TicksUntilNext(long now) => Math.Max(0, _theoreticalArrival - _tolerance - now);

    /// <summary>A full burst available again (a new session).</summary>
    public void Reset() => _theoreticalArrival = 0;
}
