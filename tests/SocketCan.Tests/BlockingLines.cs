using System.Collections.Concurrent;
using System.Diagnostics;

namespace VhostDeviceCan.SocketCan.Tests;

/// <summary>Lines of a process's stdout, one at a time with a timeout.</summary>
internal sealed class BlockingLines
{
    private readonly BlockingCollection<string> _lines = [];

    public BlockingLines(Process process)
    {
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) _lines.Add(e.Data); };
        process.BeginOutputReadLine();
    }

    public string? Next(TimeSpan timeout) => _lines.TryTake(out string? line, timeout) ? line : null;
}
