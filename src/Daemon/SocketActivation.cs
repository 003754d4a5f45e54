using System.Globalization;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon;

/// <summary>
/// Sockets passed by a service manager (sd_listen_fds(3)): $LISTEN_FDS fds from fd 3 on, meant for
/// this process when $LISTEN_PID is its pid, named by $LISTEN_FDNAMES (colon-separated, one name
/// per fd; a socket unit's FileDescriptorName=, by default the unit's name).
///
/// Guest i is the i-th socket after a stable sort by name: one socket unit's sockets share a name
/// and keep the order of their ListenStream= lines (systemd passes them so); sockets of several
/// units, which systemd passes in no defined order, are ordered by their names. --can-devices,
/// --tx-filter and the other per-socket options count in that order.
/// </summary>
internal static class SocketActivation
{
    /// <summary>SD_LISTEN_FDS_START: the first passed fd.</summary>
    public const int FirstFd = 3;

    /// <summary>One passed socket: its fd and the name the service manager gave it.</summary>
    public readonly record struct PassedSocket(int Fd, string Name);

    /// <summary>
    /// The passed sockets in guest order; empty when none were passed to this process. Null with
    /// <paramref name="error"/> set when the variables are for this process but make no sense or
    /// an fd is not a listening Unix stream socket.
    /// </summary>
    public static IReadOnlyList<PassedSocket>? Inherited(out string? error) => Parse(
        Environment.GetEnvironmentVariable("LISTEN_PID"),
        Environment.GetEnvironmentVariable("LISTEN_FDS"),
        Environment.GetEnvironmentVariable("LISTEN_FDNAMES"),
        Environment.ProcessId, UnixSocket.CheckListeningFd, out error);

    /// <summary><see cref="Inherited"/> on given values: <paramref name="check"/> says what an fd is
    /// not (null when it is a listening Unix stream socket).</summary>
    public static IReadOnlyList<PassedSocket>? Parse(string? listenPid, string? listenFds, string? listenFdNames, int processId,
        Func<int, string?> check, out string? error)
    {
        error = null;
        // Variables meant for another process (a parent's, inherited) are none of ours.
        if (!int.TryParse(listenPid, NumberStyles.None, CultureInfo.InvariantCulture, out int pid) || pid != processId) return [];
        if (!int.TryParse(listenFds, NumberStyles.None, CultureInfo.InvariantCulture, out int count) || count > DaemonOptions.MaxSocketCount)
        {
            error = $"socket activation: LISTEN_FDS '{listenFds}' is not a number of sockets from 0 to {DaemonOptions.MaxSocketCount}";
            return null;
        }
        string[] names = string.IsNullOrEmpty(listenFdNames) ? Enumerable.Repeat("unknown", count).ToArray() : listenFdNames.Split(':');
        if (names.Length != count)
        {
            error = $"socket activation: LISTEN_FDNAMES names {names.Length} socket(s) but LISTEN_FDS passes {count}";
            return null;
        }
        var sockets = new List<PassedSocket>(count);
        for (int i = 0; i < count; i++)
        {
            if (check(FirstFd + i) is { } problem)
            {
                error = $"socket activation: socket '{names[i]}': {problem}";
                return null;
            }
            sockets.Add(new PassedSocket(FirstFd + i, names[i]));
        }
        // OrderBy is stable: sockets of one name keep the order they were passed in.
        return sockets.OrderBy(s => s.Name, StringComparer.Ordinal).ToList();
    }
}
