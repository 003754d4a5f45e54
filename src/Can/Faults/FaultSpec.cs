using System.Globalization;

namespace VhostDeviceCan.Can.Faults;

/// <summary>
/// The text form of fault rules, as <c>--fault SOCKET=SPEC</c> takes it (and any other front-end
/// may): <c>tx:drop=5%,seed=42</c>, <c>rx:drop-every=10</c>, <c>rx:delay=2ms+-1ms</c>,
/// <c>tx:refuse-every=4</c>, <c>bus-off-after=100,recover=restart</c>, <c>bus-off-at=2s,recover=500ms</c>.
/// Several specs for one guest add up; a kind given twice for one direction is an error.
/// </summary>
public static class FaultSpec
{
    /// <summary>Longest delay, jitter, bus-off time or recovery time: past a minute a test means a link that is gone.</summary>
    public static readonly TimeSpan MaxDuration = TimeSpan.FromSeconds(60);

    public const string Grammar = "tx:FAULT[,FAULT...] or rx:FAULT[,...] (FAULT: drop=P%, drop-every=N, duplicate=P%, duplicate-every=N, "
        + "flip-bit=P%, flip-bit-every=N, delay=TIME[+-TIME], tx only: refuse=P%, refuse-every=N), "
        + "bus-off-after=N or bus-off-at=TIME with recover=restart or recover=TIME, seed=N";

    /// <summary>Adds one spec to <paramref name="rules"/>; null and a one-line reason when it is not valid.</summary>
    public static FaultRules? Apply(FaultRules rules, string spec, out string? error)
    {
        error = null;
        string body = spec;
        bool? tx = null;
        if (spec.StartsWith("tx:", StringComparison.Ordinal)) (tx, body) = (true, spec[3..]);
        else if (spec.StartsWith("rx:", StringComparison.Ordinal)) (tx, body) = (false, spec[3..]);
        if (body.Length == 0)
        {
            error = $"'{spec}' names no fault; expected {Grammar}";
            return null;
        }
        DirectionFaults direction = tx is null ? DirectionFaults.None : tx.Value ? rules.Tx : rules.Rx;
        BusOffFault? busOff = null;
        TimeSpan? recover = null;
        bool recoverGiven = false;
        ulong? seed = rules.Seed;
        foreach (string item in body.Split(','))
        {
            int equals = item.IndexOf('=');
            string key = equals < 0 ? item : item[..equals];
            string value = equals < 0 ? "" : item[(equals + 1)..];
            if (equals < 0 || value.Length == 0)
            {
                error = $"'{item}' in '{spec}' is not NAME=VALUE; expected {Grammar}";
                return null;
            }
            string? problem = key switch
            {
                "seed" => SetSeed(value, ref seed, rules.Seed),
                "bus-off-after" when tx is null => SetBusOff(ref busOff, rules.BusOff, ParseCount(value, out int n), new BusOffFault { AfterFrames = n }),
                "bus-off-at" when tx is null => SetBusOff(ref busOff, rules.BusOff, ParseDuration(value, allowZero: true, out TimeSpan at), new BusOffFault { At = at }),
                "recover" when tx is null => SetRecovery(value, ref recover, ref recoverGiven),
                "bus-off-after" or "bus-off-at" or "recover" => $"'{key}' belongs to the guest, not to a direction: write it without tx: or rx:",
                _ when tx is null => $"'{key}' needs a direction: tx:{item} or rx:{item}",
                "refuse" or "refuse-every" when tx == false => "refuse applies to tx only (a guest's received frames have no answer to refuse)",
                "refuse" or "refuse-every" => SetTrigger(ref direction, key, value, d => d.Refuse, (d, t) => d with { Refuse = t }),
                "drop" or "drop-every" => SetTrigger(ref direction, key, value, d => d.Drop, (d, t) => d with { Drop = t }),
                "flip-bit" or "flip-bit-every" => SetTrigger(ref direction, key, value, d => d.FlipBit, (d, t) => d with { FlipBit = t }),
                "duplicate" or "duplicate-every" => SetTrigger(ref direction, key, value, d => d.Duplicate, (d, t) => d with { Duplicate = t }),
                "delay" => SetDelay(ref direction, value),
                _ => $"unknown fault '{key}'",
            };
            if (problem is not null)
            {
                error = $"'{spec}': {problem}";
                return null;
            }
        }
        if (recoverGiven && busOff is null)
        {
            error = $"'{spec}': recover= goes with bus-off-after= or bus-off-at= in the same spec";
            return null;
        }
        if (busOff is not null) busOff = busOff with { RecoverAfter = recover };
        return rules with
        {
            Tx = tx == true ? direction : rules.Tx,
            Rx = tx == false ? direction : rules.Rx,
            BusOff = busOff ?? rules.BusOff,
            Seed = seed,
        };
    }

    private static string? SetSeed(string value, ref ulong? seed, ulong? earlier)
    {
        if (!ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out ulong parsed)) return $"seed '{value}' is not a whole number";
        if (earlier is { } other && other != parsed) return $"seed is given as {other} and as {parsed}; one guest has one seed";
        seed = parsed;
        return null;
    }

    private static string? SetBusOff(ref BusOffFault? busOff, BusOffFault? earlier, string? problem, BusOffFault parsed)
    {
        if (problem is not null) return problem;
        if (busOff is not null || earlier is not null) return "one bus-off fault per guest";
        busOff = parsed;
        return null;
    }

    private static string? SetRecovery(string value, ref TimeSpan? recover, ref bool given)
    {
        if (given) return "recover is given twice";
        given = true;
        if (value == "restart") return null;
        string? problem = ParseDuration(value, allowZero: false, out TimeSpan after);
        if (problem is not null) return $"recover={value}: use restart or a time such as 500ms ({problem})";
        recover = after;
        return null;
    }

    private static string? SetTrigger(ref DirectionFaults direction, string key, string value,
        Func<DirectionFaults, FaultTrigger> get, Func<DirectionFaults, FaultTrigger, DirectionFaults> set)
    {
        string kind = key.EndsWith("-every", StringComparison.Ordinal) ? key[..^6] : key;
        if (get(direction).IsActive) return $"{kind} is given twice for one direction";
        FaultTrigger trigger;
        if (key.EndsWith("-every", StringComparison.Ordinal))
        {
            if (ParseCount(value, out int n) is { } problem) return $"{key}={value}: {problem}";
            trigger = FaultTrigger.EveryNth(n);
        }
        else
        {
            if (!value.EndsWith('%') || !double.TryParse(value.AsSpan(0, value.Length - 1), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double percent)
                || percent <= 0 || percent > 100)
                return $"{key}={value}: give a percentage above 0 and at most 100, such as 5% or 0.5% ({key}-every=N for every Nth frame)";
            trigger = FaultTrigger.WithProbability(percent / 100);
        }
        direction = set(direction, trigger);
        return null;
    }

    private static string? SetDelay(ref DirectionFaults direction, string value)
    {
        if (direction.Delay > TimeSpan.Zero) return "delay is given twice for one direction";
        int plusMinus = value.IndexOf("+-", StringComparison.Ordinal);
        string fixedPart = plusMinus < 0 ? value : value[..plusMinus];
        if (ParseDuration(fixedPart, allowZero: false, out TimeSpan delay) is { } problem) return $"delay={value}: {problem}";
        TimeSpan jitter = TimeSpan.Zero;
        if (plusMinus >= 0)
        {
            if (ParseDuration(value[(plusMinus + 2)..], allowZero: true, out jitter) is { } jitterProblem) return $"delay={value}: jitter {jitterProblem}";
            if (jitter > delay) return $"delay={value}: the jitter may not exceed the delay (a frame cannot leave before it arrived)";
        }
        direction = direction with { Delay = delay, Jitter = jitter };
        return null;
    }

    private static string? ParseCount(string value, out int n) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out n) && n >= 1 ? null : $"'{value}' is not a whole number from 1 to {int.MaxValue}";

    /// <summary>A number with a unit: <c>us</c>, <c>ms</c> or <c>s</c> (<c>500us</c>, <c>2ms</c>, <c>1.5s</c>), at most <see cref="MaxDuration"/>.</summary>
    public static string? ParseDuration(string value, bool allowZero, out TimeSpan duration)
    {
        duration = default;
        (string unit, double scale) = value.EndsWith("us", StringComparison.Ordinal) ? ("us", 1e-6)
            : value.EndsWith("ms", StringComparison.Ordinal) ? ("ms", 1e-3)
            : value.EndsWith('s') ? ("s", 1.0) : ("", 0);
        if (unit.Length == 0
            || !double.TryParse(value.AsSpan(0, value.Length - unit.Length), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double number))
            return $"'{value}' is not a time such as 500us, 2ms or 1.5s";
        duration = TimeSpan.FromTicks((long)Math.Round(number * scale * TimeSpan.TicksPerSecond));
        if (duration > MaxDuration) return $"'{value}' is longer than {MaxDuration.TotalSeconds:0}s";
        if (!allowZero && duration <= TimeSpan.Zero) return $"'{value}' must be above zero";
        return null;
    }

    public static string FormatDuration(TimeSpan duration) =>
        duration.Ticks % TimeSpan.TicksPerMillisecond != 0
            ? duration.TotalMicroseconds.ToString("0.#", CultureInfo.InvariantCulture) + "us"
            : duration.Ticks % TimeSpan.TicksPerSecond != 0 || duration == TimeSpan.Zero
                ? duration.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture) + "ms"
                : duration.TotalSeconds.ToString("0", CultureInfo.InvariantCulture) + "s";
}
