namespace VhostDeviceCan.Can;

/// <summary>
/// The bit rates of a timed virtual bus: <see cref="Bitrate"/> for the arbitration phase and for
/// every classic frame, <see cref="DataBitrate"/> for the data phase of a CAN FD frame sent with
/// bit rate switching (BRS). Without a data rate of its own a bus runs FD frames at
/// <see cref="Bitrate"/> throughout, BRS or not.
/// </summary>
public readonly record struct BusTiming
{
    public const int MinBitrate = 1_000;
    public const int MaxBitrate = 1_000_000;
    /// <summary>ISO 11898-2 transceivers go to 5 or 8 Mbit/s; controllers allow more, so the
    /// bound only keeps a typo from making the bus absurd.</summary>
    public const int MaxDataBitrate = 15_000_000;

    public BusTiming(int bitrate, int? dataBitrate = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bitrate, MinBitrate);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bitrate, MaxBitrate);
        int data = dataBitrate ?? bitrate;
        ArgumentOutOfRangeException.ThrowIfLessThan(data, bitrate, nameof(dataBitrate));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(data, MaxDataBitrate, nameof(dataBitrate));
        Bitrate = bitrate;
        DataBitrate = data;
    }

    /// <summary>Bit/s of the arbitration phase (the nominal rate).</summary>
    public int Bitrate { get; }

    /// <summary>Bit/s of an FD frame's data phase when it has BRS; equals <see cref="Bitrate"/> when not given.</summary>
    public int DataBitrate { get; }

    /// <summary>How long <paramref name="frame"/> occupies the bus, in <see cref="System.Diagnostics.Stopwatch"/> ticks,
    /// intermission included (<see cref="CanWireTime"/>).</summary>
    public long WireTicks(in CanFrame frame)
    {
        var bits = CanWireTime.Count(in frame);
        long frequency = System.Diagnostics.Stopwatch.Frequency;
        // Rounded up, so that a frame is never delivered before its last bit.
        long nominal = (bits.Nominal * frequency + Bitrate - 1) / Bitrate;
        long data = (bits.Data * frequency + DataBitrate - 1) / DataBitrate;
        return nominal + data;
    }

    /// <summary>The wire time of <paramref name="frame"/> as a <see cref="TimeSpan"/> (rounded to 100 ns).</summary>
    public TimeSpan WireTime(in CanFrame frame) =>
        TimeSpan.FromSeconds((double)WireTicks(in frame) / System.Diagnostics.Stopwatch.Frequency);

    /// <summary><c>bitrate=500000</c> or <c>bitrate=500000,dbitrate=2000000</c>, as the device list spells it.</summary>
    public override string ToString() =>
        DataBitrate == Bitrate ? $"bitrate={Bitrate}" : $"bitrate={Bitrate},dbitrate={DataBitrate}";
}
