using System.Globalization;

namespace VhostDeviceCan.Can;

/// <summary>
/// The CAN identifiers one guest may send or receive: a list of rules in the notation of
/// candump's filters, plus ranges. A frame passes when any rule matches it, as with SocketCAN's
/// CAN_RAW_FILTER. Standard and extended identifiers are different identifiers: a rule written
/// with 8 hex digits matches extended frames only, one with up to 3 standard frames only, so
/// a guest allowed 123 cannot send 00000123.
/// <list type="bullet">
/// <item><c>ID</c>: exactly that identifier;</item>
/// <item><c>ID:MASK</c>: identifiers whose bits under MASK equal ID's;</item>
/// <item><c>ID~MASK</c>: identifiers whose bits under MASK differ from ID's;</item>
/// <item><c>LOW-HIGH</c>: LOW to HIGH inclusive.</item>
/// </list>
/// Matching is a loop over a small array: no allocation per frame.
/// </summary>
public sealed class CanIdFilter
{
    private readonly Rule[] _rules;
    private readonly string _text;

    private CanIdFilter(Rule[] rules, string text)
    {
        _rules = rules;
        _text = text;
    }

    public bool Allows(in CanFrame frame)
    {
        uint id = frame.Id;
        bool extended = frame.IsExtended;
        foreach (ref readonly Rule rule in _rules.AsSpan())
            if (rule.Extended == extended && rule.Matches(id)) return true;
        return false;
    }

    /// <summary>The rules as given, comma-separated (for logs).</summary>
    public override string ToString() => _text;

    /// <summary>Parses comma-separated rules; returns null and a one-line error naming the bad rule.</summary>
    public static CanIdFilter? Parse(string text, out string? error)
    {
        error = null;
        string[] parts = text.Split(',', StringSplitOptions.TrimEntries);
        var rules = new Rule[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            Rule? rule = ParseRule(parts[i], out string? reason);
            if (rule is null)
            {
                error = $"CAN ID rule '{parts[i]}' {reason}";
                return null;
            }
            rules[i] = rule.Value;
        }
        return new CanIdFilter(rules, string.Join(',', parts));
    }

    private static Rule? ParseRule(string rule, out string? reason)
    {
        reason = null;
        int separator = rule.IndexOfAny([':', '~', '-']);
        string first = separator < 0 ? rule : rule[..separator];
        if (!TryParseId(first, out uint id, out bool extended, out reason)) return null;
        uint fullMask = extended ? CanFrame.CAN_EFF_MASK : CanFrame.CAN_SFF_MASK;
        if (separator < 0) return new Rule(id, id, fullMask, extended, RuleKind.Mask);

        string second = rule[(separator + 1)..];
        char kind = rule[separator];
        if (kind == '-')
        {
            if (!TryParseId(second, out uint high, out bool highExtended, out reason)) return null;
            if (highExtended != extended)
            {
                reason = "mixes a standard and an extended identifier (write both with 3 or both with 8 hex digits)";
                return null;
            }
            if (high < id)
            {
                reason = "has its high end below its low end";
                return null;
            }
            return new Rule(id, high, 0, extended, RuleKind.Range);
        }
        if (!uint.TryParse(second, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint mask) || second.Length == 0)
        {
            reason = "has a mask that is not a hex number";
            return null;
        }
        if ((mask & ~fullMask) != 0)
        {
            reason = $"has a mask with bits outside the {(extended ? "29" : "11")}-bit identifier";
            return null;
        }
        return new Rule(id, id, mask, extended, kind == '~' ? RuleKind.InverseMask : RuleKind.Mask);
    }

    private static bool TryParseId(string text, out uint id, out bool extended, out string? reason)
    {
        reason = null;
        extended = text.Length == 8;
        if (text.Length is 0 or > 8 || !uint.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out id))
        {
            id = 0;
            reason = "is not a hex CAN identifier (3 digits for standard, 8 for extended)";
            return false;
        }
        if (extended ? id > CanFrame.CAN_EFF_MASK : id > CanFrame.CAN_SFF_MASK)
        {
            reason = extended
                ? "is above 1FFFFFFF, the largest extended identifier"
                : "is above 7FF, the largest standard identifier (write extended identifiers with 8 hex digits)";
            return false;
        }
        return true;
    }

    private enum RuleKind : byte { Mask, InverseMask, Range }

    private readonly record struct Rule(uint Low, uint High, uint Mask, bool Extended, RuleKind Kind)
    {
        public bool Matches(uint id) => Kind switch
        {
            RuleKind.Mask => (id & Mask) == (Low & Mask),
            RuleKind.InverseMask => (id & Mask) != (Low & Mask),
            _ => id >= Low && id <= High,
        };
    }
}
