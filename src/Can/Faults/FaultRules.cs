namespace VhostDeviceCan.Can.Faults;

/// <summary>How often one kind of fault hits: never, every Nth frame that reaches the rule, or
/// each frame with a probability drawn from the rule set's seeded generator.</summary>
public readonly record struct FaultTrigger
{
    /// <summary>Every Nth frame (N, 2N, 3N, ... counted from the rule set's installation); 0 when not periodic.</summary>
    public int Every { get; private init; }

    /// <summary>Chance per frame, 0 to 1 (exclusive of <see cref="Every"/>).</summary>
    public double Probability { get; private init; }

    /// <summary>The probability as a threshold on a 32-bit random number: a frame is hit when the number
    /// is below it. 2^32 for 100 %, so certainty needs no special case.</summary>
    internal ulong Threshold => (ulong)Math.Round(Probability * 4294967296.0);

    public bool IsActive => Every > 0 || Probability > 0;

    public static FaultTrigger Never => default;
    public static FaultTrigger EveryNth(int n) => new() { Every = n };
    public static FaultTrigger WithProbability(double probability) => new() { Probability = probability };

    public override string ToString() => Every > 0
        ? $"every {Every}"
        : (Probability * 100).ToString("0.####", System.Globalization.CultureInfo.InvariantCulture) + "%";
}

/// <summary>The faults injected into one direction of one guest's traffic, applied to each frame
/// in this order: refuse (TX only), drop, flip a bit, duplicate, delay.</summary>
public sealed record DirectionFaults
{
    public static readonly DirectionFaults None = new();

    /// <summary>TX only: the guest's request is answered NOT_OK and the frame never leaves.</summary>
    public FaultTrigger Refuse { get; init; }
    /// <summary>The frame is lost between the guest and the bus; the sender sees it as sent.</summary>
    public FaultTrigger Drop { get; init; }
    /// <summary>One data bit (never the identifier, flags or length) is inverted.</summary>
    public FaultTrigger FlipBit { get; init; }
    /// <summary>The frame arrives twice, back to back.</summary>
    public FaultTrigger Duplicate { get; init; }
    /// <summary>Every frame is held this long, plus up to <see cref="Jitter"/> either way; order is kept.</summary>
    public TimeSpan Delay { get; init; }
    public TimeSpan Jitter { get; init; }

    public bool IsActive => Refuse.IsActive || Drop.IsActive || FlipBit.IsActive || Duplicate.IsActive || Delay > TimeSpan.Zero;

    public override string ToString()
    {
        var parts = new List<string>();
        if (Refuse.IsActive) parts.Add($"refuse {Refuse}");
        if (Drop.IsActive) parts.Add($"drop {Drop}");
        if (FlipBit.IsActive) parts.Add($"flip-bit {FlipBit}");
        if (Duplicate.IsActive) parts.Add($"duplicate {Duplicate}");
        if (Delay > TimeSpan.Zero)
            parts.Add(Jitter > TimeSpan.Zero ? $"delay {FaultSpec.FormatDuration(Delay)}±{FaultSpec.FormatDuration(Jitter)}" : $"delay {FaultSpec.FormatDuration(Delay)}");
        return parts.Count == 0 ? "none" : string.Join(", ", parts);
    }
}

/// <summary>A forced bus-off: after the guest has transmitted <see cref="AfterFrames"/> frames or
/// <see cref="At"/> after the rules are installed, once per installation. The controller stays off
/// the bus until the guest restarts it (<see cref="RecoverAfter"/> null) or for a fixed time.</summary>
public sealed record BusOffFault
{
    public int AfterFrames { get; init; }
    public TimeSpan? At { get; init; }
    /// <summary>Null: recovered by the guest's restart (START). Otherwise the bus-off lasts this
    /// long; a restart before then leaves the controller off the bus until it is over.</summary>
    public TimeSpan? RecoverAfter { get; init; }

    public override string ToString() =>
        (AfterFrames > 0 ? $"bus-off after {AfterFrames} frames" : $"bus-off at {FaultSpec.FormatDuration(At ?? TimeSpan.Zero)}")
        + (RecoverAfter is { } after ? $", recover after {FaultSpec.FormatDuration(after)}" : ", recover on restart");
}

/// <summary>
/// One guest's complete fault rules. Immutable: a new set replaces the old one as a whole
/// (<see cref="FaultInjectingTransport.ReplaceRules"/>), so the device loop never sees half an update.
/// </summary>
public sealed record FaultRules
{
    public static readonly FaultRules None = new();

    public DirectionFaults Tx { get; init; } = DirectionFaults.None;
    public DirectionFaults Rx { get; init; } = DirectionFaults.None;
    public BusOffFault? BusOff { get; init; }

    /// <summary>Seeds every random choice; null lets the transport pick one (and report it) when
    /// the rules are installed.</summary>
    public ulong? Seed { get; init; }

    public bool IsActive => Tx.IsActive || Rx.IsActive || BusOff is not null;

    public override string ToString()
    {
        if (!IsActive) return "none";
        var parts = new List<string>();
        if (Tx.IsActive) parts.Add($"tx: {Tx}");
        if (Rx.IsActive) parts.Add($"rx: {Rx}");
        if (BusOff is not null) parts.Add(BusOff.ToString());
        if (Seed is { } seed) parts.Add($"seed {seed}");
        return string.Join("; ", parts);
    }
}
