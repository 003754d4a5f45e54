using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace VhostDeviceCan.CommandLine;

/// <summary>
/// Whole-number options of both programs, with bad values reported in the user's words (the
/// option, what it wants, what was given) rather than System.CommandLine's default message,
/// which names a .NET type.
/// </summary>
public static class WholeNumbers
{
    /// <summary>An option taking one whole number from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public static Option<int> Option(string name, string[] aliases, string description, int min, int max = int.MaxValue, int fallback = 0) =>
        new(name, aliases)
        {
            Description = description,
            CustomParser = r => Parse(r, name, min, max),
            DefaultValueFactory = _ => fallback,
        };

    /// <summary>A repeatable option, each occurrence one whole number from <paramref name="min"/> up.</summary>
    public static Option<int[]> Repeated(string name, string description, int min) =>
        new(name)
        {
            Description = description,
            CustomParser = r =>
            {
                var values = new int[r.Tokens.Count];
                for (int i = 0; i < values.Length; i++)
                    values[i] = Parse(r, r.Tokens[i].Value, name, min, int.MaxValue);
                return values;
            },
        };

    /// <summary>The option's last token as a whole number in range, or an error naming it.</summary>
    public static int Parse(ArgumentResult r, string name, int min, int max) => Parse(r, LastToken(r), name, min, max);

    /// <summary>The value given for a single-valued option (the last one when repeated).</summary>
    public static string LastToken(ArgumentResult r) => r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";

    private static int Parse(ArgumentResult r, string text, string name, int min, int max)
    {
        NumberStyles style = min < 0 ? NumberStyles.AllowLeadingSign : NumberStyles.None;
        if (int.TryParse(text, style, CultureInfo.InvariantCulture, out int value) && value >= min && value <= max)
            return value;
        string range = (min, max) switch
        {
            (int.MinValue, int.MaxValue) => "",
            (_, int.MaxValue) => $", {min} or more",
            _ => $", from {min} to {max}",
        };
        r.AddError($"{name} wants a whole number{range}; got '{text}'");
        return Math.Max(min, 0);
    }
}
