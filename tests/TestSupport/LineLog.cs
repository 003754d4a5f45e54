using System.Text.RegularExpressions;

namespace VhostDeviceCan.TestSupport;

/// <summary>Lines of a child process's output as they arrive, with waits for a line that
/// matches: the tests synchronise on console markers and daemon log lines, never on sleeps.</summary>
public sealed class LineLog
{
    private readonly List<string> _lines = [];
    private readonly object _lock = new();
    private bool _closed;

    public void Add(string? line)
    {
        lock (_lock)
        {
            if (line is null) _closed = true;
            else _lines.Add(line.TrimEnd('\r'));
            Monitor.PulseAll(_lock);
        }
    }

    public int Count
    {
        get { lock (_lock) return _lines.Count; }
    }

    public string[] Snapshot()
    {
        lock (_lock) return [.. _lines];
    }

    public string Tail(int count)
    {
        lock (_lock) return string.Join('\n', _lines.Skip(Math.Max(0, _lines.Count - count)));
    }

    /// <summary>The first line at or after <paramref name="from"/> matching <paramref name="pattern"/>
    /// and its index, waiting up to <paramref name="timeout"/>; null when it never came or the
    /// output ended without it.</summary>
    public (Match Match, int Index)? WaitFor(Regex pattern, TimeSpan timeout, int from = 0)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        lock (_lock)
        {
            int next = from;
            while (true)
            {
                for (; next < _lines.Count; next++)
                {
                    Match m = pattern.Match(_lines[next]);
                    if (m.Success) return (m, next);
                }
                TimeSpan left = deadline - DateTime.UtcNow;
                if (_closed || left <= TimeSpan.Zero) return null;
                Monitor.Wait(_lock, left);
            }
        }
    }
}
