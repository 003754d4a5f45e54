using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using VhostDeviceCan.CommandLine;

namespace VhostDeviceCan.Simulator;

/// <summary>
/// Options whose bad values are reported in the user's words (what was given, what is wanted)
/// rather than System.CommandLine's default messages, which name .NET types.
/// </summary>
internal static class Options
{
    public static Option<int> Count(string name, string[] aliases, string description, int min, int? fallback = null) =>
        WholeNumbers.Option(name, aliases, description, min, fallback: fallback ?? 0);

    public static Option<double> Seconds(string name, string[] aliases, string description, double? fallback = null) =>
        new(name, aliases)
        {
            Description = description,
            CustomParser = r =>
            {
                string text = Single(r);
                if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
                    && value >= 0 && double.IsFinite(value) && value <= TimeSpan.MaxValue.TotalSeconds / 2)
                    return value;
                r.AddError($"{name} wants a number of seconds, 0 or more; got '{text}'");
                return 0;
            },
            DefaultValueFactory = _ => fallback ?? 0,
        };

    /// <summary>A queue size the vhost-user back-end can take: a power of two from 2 to 1024.</summary>
    public static Option<int> QueueSize(string name, string description, int fallback) =>
        new(name)
        {
            Description = description,
            CustomParser = r =>
            {
                int value = WholeNumbers.Parse(r, name, 2, 1024);
                if (r.Errors.Any() || (value & (value - 1)) == 0) return value;
                r.AddError($"{name} wants a power of two from 2 to 1024; got '{Single(r)}'");
                return fallback;
            },
            DefaultValueFactory = _ => fallback,
        };

    public static Option<TimestampMode> Timestamps(string name, string[] aliases, string description) =>
        new(name, aliases)
        {
            Description = description,
            CustomParser = r =>
            {
                string text = Single(r);
                if (DumpFormat.TryParseMode(text, out TimestampMode mode)) return mode;
                r.AddError($"{name} wants one of a (absolute), A (date), d (delta), z (from zero); got '{text}'");
                return TimestampMode.None;
            },
        };

    private static string Single(ArgumentResult r) => WholeNumbers.LastToken(r);
}
