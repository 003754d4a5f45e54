using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace VhostDeviceCan.TestSupport;

/// <summary>Keeps a component's log lines, so a test can assert on them and a failing test can
/// say what the component saw.</summary>
public sealed class RecordingLogger(LogLevel minimumLevel = LogLevel.Information) : ILogger
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= minimumLevel;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel)) return;
        _lines.Enqueue($"{logLevel}: {formatter(state, exception)}{(exception is null ? "" : " " + exception)}");
        // Bounded, so the long reconnect tests do not grow the test process.
        while (_lines.Count > 2000) _lines.TryDequeue(out _);
    }

    public override string ToString() => string.Join(Environment.NewLine, _lines.TakeLast(40));
}
