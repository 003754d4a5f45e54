using System.Globalization;
using Microsoft.Extensions.Logging;

namespace VhostDeviceCan.Daemon;

/// <summary>
/// Log lines on stderr, one per event, in one of two forms:
/// <list type="bullet">
/// <item>on a terminal, a file or a pipe: "2026-12-07T19:51:05.123Z INFO  can.sock0: controller
/// started", the time in UTC (ISO 8601, milliseconds), so lines from hosts and containers in
/// different time zones sort and compare as they are;</item>
/// <item>when stderr is the journal (see <see cref="JournalStream"/>): "&lt;6&gt;can.sock0:
/// controller started", the syslog priority as a prefix journald reads (sd-daemon(3)) and no
/// time of its own, since the journal stamps every entry.</item>
/// </list>
/// A provider of its own because the console logger's custom formatters need options binding,
/// which NativeAOT cannot do; this one needs nothing but a lock around each line.
/// </summary>
internal sealed class StderrLoggerProvider(LogLevel minimum) : ILoggerProvider
{
    private static readonly object Gate = new();
    private readonly bool _journal = JournalStream.IsStandardError(Environment.GetEnvironmentVariable(JournalStream.Variable));

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, minimum, _journal);

    public void Dispose() { }

    /// <summary>The line for one event, without its newline; <paramref name="now"/> is ignored for the journal.</summary>
    internal static string Format(LogLevel level, string category, string message, Exception? exception, DateTime now, bool journal)
    {
        // The category is the socket's name; runtime messages already start with it.
        string where = message.StartsWith(category + ":", StringComparison.Ordinal) ? "" : category + ": ";
        string text = exception is null ? where + message : $"{where}{message}: {exception}";
        if (!journal)
            return $"{now.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)} {Word(level)} {text}";
        // journald makes each line an entry of its own: an exception's stack trace keeps its priority on every line.
        string prefix = $"<{SyslogPriority(level)}>";
        return prefix + text.ReplaceLineEndings("\n" + prefix);
    }

    private static string Word(LogLevel level) => level switch
    {
        LogLevel.Trace => "TRACE",
        LogLevel.Debug => "DEBUG",
        LogLevel.Information => "INFO ",
        LogLevel.Warning => "WARN ",
        LogLevel.Error => "ERROR",
        _ => "FATAL",
    };

    /// <summary>syslog(3) priorities: LOG_CRIT 2, LOG_ERR 3, LOG_WARNING 4, LOG_INFO 6, LOG_DEBUG 7.</summary>
    private static int SyslogPriority(LogLevel level) => level switch
    {
        LogLevel.Trace or LogLevel.Debug => 7,
        LogLevel.Information => 6,
        LogLevel.Warning => 4,
        LogLevel.Error => 3,
        _ => 2,
    };

    private sealed class Logger(string category, LogLevel minimum, bool journal) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None && logLevel >= minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            string line = Format(logLevel, category, formatter(state, exception), exception, DateTime.UtcNow, journal);
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
