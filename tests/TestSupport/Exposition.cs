using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace VhostDeviceCan.TestSupport;

/// <summary>One sample of Prometheus' text format: metric name, labels, value.</summary>
public sealed record ExpositionSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    /// <summary>True when every label in <paramref name="wanted"/> ("key=value") has that value.</summary>
    public bool Has(params string[] wanted) => wanted.All(pair =>
    {
        int equals = pair.IndexOf('=');
        return Labels.TryGetValue(pair[..equals], out string? value) && value == pair[(equals + 1)..];
    });
}

/// <summary>
/// A strict reader of Prometheus' text exposition format 0.0.4 for tests: every sample must
/// belong to a family announced by HELP and TYPE lines before it, a family appears once, label
/// values are unescaped, and anything it does not understand fails the test.
/// </summary>
public sealed class Exposition
{
    private static readonly Regex MetricName = new("^[a-zA-Z_:][a-zA-Z0-9_:]*$");
    private static readonly Regex LabelName = new("^[a-zA-Z_][a-zA-Z0-9_]*$");

    public Dictionary<string, string> Types { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, string> Help { get; } = new(StringComparer.Ordinal);
    public List<ExpositionSample> Samples { get; } = [];

    public static Exposition Parse(string text)
    {
        var result = new Exposition();
        string? current = null;
        var finished = new HashSet<string>(StringComparer.Ordinal);
        if (!text.EndsWith('\n')) throw new FormatException("the text does not end with a line feed");
        foreach (string line in text[..^1].Split('\n'))
        {
            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                string[] parts = line[7..].Split(' ', 2);
                if (current is not null) finished.Add(current);
                current = parts[0];
                if (!MetricName.IsMatch(current)) throw new FormatException($"bad family name: {line}");
                if (finished.Contains(current) || result.Help.ContainsKey(current)) throw new FormatException($"family {current} appears twice");
                result.Help[current] = parts.Length > 1 ? parts[1] : "";
                continue;
            }
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                string[] parts = line[7..].Split(' ');
                if (parts.Length != 2 || parts[0] != current) throw new FormatException($"TYPE without its HELP just before: {line}");
                if (parts[1] is not ("counter" or "gauge" or "histogram" or "summary" or "untyped")) throw new FormatException($"bad type: {line}");
                result.Types[current] = parts[1];
                continue;
            }
            if (line.StartsWith('#') || line.Length == 0) throw new FormatException($"unexpected line: '{line}'");
            ExpositionSample sample = ParseSample(line);
            if (current is null || !result.Types.TryGetValue(current, out string? type)) throw new FormatException($"sample before any TYPE: {line}");
            string[] allowed = type == "histogram" ? [current + "_bucket", current + "_sum", current + "_count"] : [current];
            if (!allowed.Contains(sample.Name)) throw new FormatException($"sample {sample.Name} outside its family {current}");
            result.Samples.Add(sample);
        }
        return result;
    }

    private static ExpositionSample ParseSample(string line)
    {
        int i = 0;
        while (i < line.Length && line[i] is not ('{' or ' ')) i++;
        string name = line[..i];
        if (!MetricName.IsMatch(name)) throw new FormatException($"bad metric name: {line}");
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (line[i] != '}')
            {
                int equals = line.IndexOf('=', i);
                string key = line[i..equals];
                if (!LabelName.IsMatch(key) || labels.ContainsKey(key)) throw new FormatException($"bad or repeated label '{key}': {line}");
                if (line[equals + 1] != '"') throw new FormatException($"label value not quoted: {line}");
                var value = new StringBuilder();
                int j = equals + 2;
                for (; line[j] != '"'; j++)
                {
                    if (line[j] != '\\') { value.Append(line[j]); continue; }
                    j++;
                    value.Append(line[j] switch
                    {
                        '\\' => '\\',
                        '"' => '"',
                        'n' => '\n',
                        _ => throw new FormatException($"bad escape \\{line[j]}: {line}"),
                    });
                }
                labels[key] = value.ToString();
                i = j + 1;
                if (line[i] == ',') i++;
                else if (line[i] != '}') throw new FormatException($"expected , or }} after a label: {line}");
            }
            i++;
        }
        if (i >= line.Length || line[i] != ' ') throw new FormatException($"no value: {line}");
        string valueText = line[(i + 1)..];
        double number = valueText switch
        {
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            "NaN" => double.NaN,
            _ => double.Parse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture),
        };
        return new ExpositionSample(name, labels, number);
    }

    /// <summary>The one sample of <paramref name="name"/> with these labels ("key=value").</summary>
    public double Value(string name, params string[] labels)
    {
        var matches = Samples.Where(s => s.Name == name && s.Has(labels)).ToList();
        if (matches.Count != 1) throw new InvalidOperationException($"{matches.Count} samples of {name} with {string.Join(',', labels)}");
        return matches[0].Value;
    }
}
