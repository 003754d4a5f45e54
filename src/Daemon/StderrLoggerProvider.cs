using Microsoft.Extensions.Logging;

namespace VhostDeviceCan.Daemon;

/// <summary>
/// Log lines on stderr as users read them: "12:00:01.250 INFO  can.sock0: controller started".
/// A provider of its own because the console logger's custom formatters need options binding,
/// which NativeAOT cannot do; this one needs nothing but a lock around each line.
/// </summary>
internal sealed class StderrLoggerProvider(LogLevel minimum) : ILoggerProvider
{
    private static readonly object Gate = new();

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, minimum);

    public void Dispose() { }

    private sealed class Logger(string category, LogLevel minimum) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None && logLevel >= minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            string level = logLevel switch
            {
                LogLevel.Trace => "TRACE",
                LogLevel.Debug => "DEBUG",
                LogLevel.Information => "INFO ",
                LogLevel.Warning => "WARN ",
                LogLevel.Error => "ERROR",
                _ => "FATAL",
            };
            string message = formatter(state, exception);
            // The category is the socket's name; runtime messages already start with it.
            string where = message.StartsWith(category + ":", StringComparison.Ordinal) ? "" : category + ": ";
            string line = $"{DateTime.Now:HH:mm:ss.fff} {level} {where}{message}";
            if (exception is not null) line += ": " + exception;
            lock (Gate)
            {
                try
                {
                    Console.Error.WriteLine(line);
                }
                catch (IOException)
                {
                    // stderr is a terminal that hung up (EIO) or is otherwise gone: the line has nowhere
                    // to go, and a daemon must not die of its log (the hang-up's SIGHUP is on its way
                    // to end it cleanly).
                }
            }
        }
    }
}
