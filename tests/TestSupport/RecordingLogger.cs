using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace VhostDeviceCan.Backend.Tests;

/// <summary>Keeps the runtime's log lines, so a failing test can say what the back-end saw.</summary>
public sealed class RecordingLogger : ILogger
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel)) return;
        _lines.Enqueue($"{logLevel}: {formatter(state, exception)}");
        // Bounded, so the long reconnect tests do not grow the test process.
        while (_lines.Count > 2000) _lines.TryDequeue(out _);
    }

    public override string ToString() => string.Join(Environment.NewLine, _lines.TakeLast(40));
}
