using System.Globalization;
using System.Text;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon;

/// <summary>
/// sd_notify(3) without libsystemd: one datagram of "KEY=VALUE" lines to $NOTIFY_SOCKET, and the
/// watchdog interval systemd asks for in $WATCHDOG_USEC. Does nothing outside a service manager.
/// </summary>
internal static class SystemdNotify
{
    private static readonly string? NotifySocket = Environment.GetEnvironmentVariable("NOTIFY_SOCKET");

    /// <summary>Whether a service manager listens for notifications.</summary>
    public static bool IsEnabled => !string.IsNullOrEmpty(NotifySocket);

    /// <summary>Where notifications go, for a log line when they fail.</summary>
    public static string Target => NotifySocket ?? "";

    /// <summary>Sends <paramref name="message"/> ("READY=1", "STATUS=...", several lines at once);
    /// 0 when sent or when no service manager listens, else the errno.</summary>
    public static int Send(string message) =>
        IsEnabled ? UnixDatagram.Send(NotifySocket!, Encoding.UTF8.GetBytes(message)) : 0;

    /// <summary>
    /// The service's watchdog timeout (WatchdogSec=), or null when none is set for this process:
    /// $WATCHDOG_USEC unset, zero or malformed, or $WATCHDOG_PID naming another process (the
    /// variables leaked from a parent), as sd_watchdog_enabled(3) decides.
    /// </summary>
    public static TimeSpan? WatchdogTimeout()
    {
        string? usec = Environment.GetEnvironmentVariable("WATCHDOG_USEC");
        if (!ulong.TryParse(usec, NumberStyles.None, CultureInfo.InvariantCulture, out ulong microseconds) || microseconds == 0)
            return null;
        string? pid = Environment.GetEnvironmentVariable("WATCHDOG_PID");
        if (!string.IsNullOrEmpty(pid)
            && (!int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out int owner) || owner != Environment.ProcessId))
            return null;
        // TimeSpan holds microseconds up to about 29,000 years; anything larger is "never".
        return microseconds > (ulong)TimeSpan.MaxValue.TotalMicroseconds / 2 ? null : TimeSpan.FromMicroseconds(microseconds);
    }
}
