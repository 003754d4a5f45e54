using System.Text.RegularExpressions;

namespace VhostDeviceCan.Can.Tests;

/// <summary>
/// Checks section references of the form <c>docs/spec/NAME.md</c>, a space, the section sign and N
/// (docs/spec/README.md): every section sign in the scanned sources must belong to such a reference,
/// and N must be the number of a heading in that document. This file spells the sign
/// <c>\u00A7</c> so that it holds no reference itself.
/// </summary>
public static partial class SpecReferences
{
    public const string SpecFolder = "docs/spec";
    public const char SectionSign = '\u00A7';

    /// <summary>The section numbers of a digest: <c>## 7. Title</c> gives "7", <c>### 8.4 Title</c> "8.4".</summary>
    public static HashSet<string> Headings(string markdown)
    {
        var headings = new HashSet<string>(StringComparer.Ordinal);
        foreach (string line in markdown.Split('\n'))
        {
            Match match = HeadingPattern().Match(line);
            if (match.Success) headings.Add(match.Groups[1].Value);
        }
        return headings;
    }

    /// <summary>
    /// Every problem in <paramref name="text"/> as "path:line: what", given the headings of each
    /// digest by document name (<c>virtio-can.md</c>).
    /// </summary>
    public static IEnumerable<string> Problems(string path, string text, IReadOnlyDictionary<string, HashSet<string>> headingsByDocument)
    {
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            var covered = new HashSet<int>();
            foreach (Match reference in ReferencePattern().Matches(line))
            {
                covered.Add(reference.Index + reference.Value.IndexOf(SectionSign, StringComparison.Ordinal));
                if (Unresolved(reference, headingsByDocument) is { } problem) yield return $"{path}:{i + 1}: {problem}";
            }
            for (int at = line.IndexOf(SectionSign, StringComparison.Ordinal); at >= 0; at = line.IndexOf(SectionSign, at + 1))
            {
                if (!covered.Contains(at))
                    yield return $"{path}:{i + 1}: {SectionSign} without \"{SpecFolder}/NAME.md \" in front of it";
            }
        }
    }

    /// <summary>
    /// Inside the digests a reference may name another digest without the folder
    /// (<c>virtqueue.md</c>, the sign, <c>4</c>); each such reference must resolve too.
    /// </summary>
    public static IEnumerable<string> CrossReferenceProblems(string path, string text, IReadOnlyDictionary<string, HashSet<string>> headingsByDocument)
    {
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            foreach (Match reference in CrossReferencePattern().Matches(lines[i]))
            {
                if (Unresolved(reference, headingsByDocument) is { } problem) yield return $"{path}:{i + 1}: {problem}";
            }
        }
    }

    private static string? Unresolved(Match reference, IReadOnlyDictionary<string, HashSet<string>> headingsByDocument)
    {
        string document = reference.Groups[1].Value;
        string section = reference.Groups[2].Value;
        if (!headingsByDocument.TryGetValue(document, out HashSet<string>? headings)) return $"{SpecFolder}/{document} does not exist";
        return headings.Contains(section) ? null : $"{SpecFolder}/{document} has no section {section}";
    }

    [GeneratedRegex(@"^#{2,4}\s+(\d+[a-z]?(?:\.\d+)*)\.?\s")]
    private static partial Regex HeadingPattern();

    [GeneratedRegex(@"docs/spec/([a-z0-9-]+\.md) \u00A7(\d+[a-z]?(?:\.\d+)*)")]
    private static partial Regex ReferencePattern();

    [GeneratedRegex(@"\b([a-z0-9-]+\.md) \u00A7(\d+[a-z]?(?:\.\d+)*)")]
    private static partial Regex CrossReferencePattern();
}
