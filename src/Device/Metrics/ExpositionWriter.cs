using System.Globalization;

namespace VhostDeviceCan.Device.Metrics;

/// <summary>
/// Writes Prometheus' text exposition format (version 0.0.4) one token at a time: a family's
/// HELP and TYPE lines, then samples as name, labels, value. Label values and HELP text are
/// escaped as the format requires (backslash, double quote in label values, line feed), so a
/// socket path with any characters in it cannot break a line. Numbers are formatted without
/// allocating and never by the current culture.
/// </summary>
internal sealed class ExpositionWriter(TextWriter output)
{
    private bool _labelsOpen;

    public void Family(string name, string type, string help)
    {
        output.Write("# HELP ");
        output.Write(name);
        output.Write(' ');
        foreach (char c in help)
        {
            if (c == '\\') output.Write("\\\\");
            else if (c == '\n') output.Write("\\n");
            else output.Write(c);
        }
        output.Write("\n# TYPE ");
        output.Write(name);
        output.Write(' ');
        output.Write(type);
        output.Write('\n');
    }

    public ExpositionWriter Sample(string name)
    {
        output.Write(name);
        _labelsOpen = false;
        return this;
    }

    public ExpositionWriter Sample(string name, GuestMetricsSource guest) =>
        Sample(name).Label("guest", guest.GuestLabel).Label("socket", guest.Socket).Label("bus", guest.Bus);

    public ExpositionWriter Label(string key, string value)
    {
        output.Write(_labelsOpen ? ',' : '{');
        _labelsOpen = true;
        output.Write(key);
        output.Write("=\"");
        foreach (char c in value)
        {
            switch (c)
            {
                case '\\': output.Write("\\\\"); break;
                case '"': output.Write("\\\""); break;
                case '\n': output.Write("\\n"); break;
                default: output.Write(c); break;
            }
        }
        output.Write('"');
        return this;
    }

    /// <summary>A bucket bound or other number as a label value, in plain decimal notation.</summary>
    public ExpositionWriter Label(string key, double value) =>
        Label(key, value.ToString("0.#########", CultureInfo.InvariantCulture));

    public void Value(long value)
    {
        EndLabels();
        Span<char> digits = stackalloc char[24];
        value.TryFormat(digits, out int length, default, CultureInfo.InvariantCulture);
        output.Write(digits[..length]);
        output.Write('\n');
    }

    public void Value(double value)
    {
        EndLabels();
        if (double.IsPositiveInfinity(value)) output.Write("+Inf");
        else if (double.IsNegativeInfinity(value)) output.Write("-Inf");
        else if (double.IsNaN(value)) output.Write("NaN");
        else
        {
            Span<char> digits = stackalloc char[32];
            value.TryFormat(digits, out int length, "R", CultureInfo.InvariantCulture);
            output.Write(digits[..length]);
        }
        output.Write('\n');
    }

    public void Value(bool value) => Value(value ? 1L : 0L);

    private void EndLabels()
    {
        if (_labelsOpen) output.Write('}');
        _labelsOpen = false;
        output.Write(' ');
    }
}
