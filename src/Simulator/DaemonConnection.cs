using VhostDeviceCan.CommandLine;
using VhostDeviceCan.Guest;
using VhostDeviceCan.Interop;
using VhostDeviceCan.VhostUser;

namespace VhostDeviceCan.Simulator;

/// <summary>
/// Connects a simulated guest to a daemon socket and names why that failed in the words a user
/// needs: no such socket, not a socket, nobody listening, busy, not answering.
/// </summary>
internal static class DaemonConnection
{
    /// <summary>Long enough for a daemon started just before to create its socket, short enough
    /// that a mistyped path is reported at once.</summary>
    private static readonly TimeSpan ConnectRetry = TimeSpan.FromSeconds(1);

    /// <exception cref="CommandFailure">With <see cref="ExitStatus.Unreachable"/>.</exception>
    public static VirtioCanGuest Connect(string socket, VirtioCanGuestOptions? options = null)
    {
        options = (options ?? new VirtioCanGuestOptions()) with { ConnectTimeout = ConnectRetry };
        try
        {
            return VirtioCanGuest.Connect(socket, options);
        }
        catch (SyscallException e) when (e.Syscall.StartsWith("connect(", StringComparison.Ordinal))
        {
            throw new CommandFailure(ExitStatus.Unreachable, ConnectAdvice(e.ErrorNumber) is { } advice ? $"{e.Message}; {advice}" : e.Message);
        }
        catch (VhostUserException e) when (IsClosedByPeer(e))
        {
            // The daemon serves one front-end per socket and closes any other before answering.
            throw new CommandFailure(ExitStatus.Unreachable,
                $"{socket}: socket busy: another front-end is attached (the daemon closed the connection before answering)");
        }
        catch (VhostUserException e) when (e.Error == VhostUserError.Timeout)
        {
            throw new CommandFailure(ExitStatus.Unreachable, $"{socket}: no vhost-user answer ({e.Message})");
        }
        catch (VhostUserException e)
        {
            throw new CommandFailure(ExitStatus.Unreachable, $"{socket}: the handshake failed: {e.Message}");
        }
    }

    /// <summary>What a failed connect means here, after the system call's own words
    /// ("connect(PATH): Connection refused (ECONNREFUSED)").</summary>
    private static string? ConnectAdvice(int errno) => errno switch
    {
        Errno.ENOENT => "no such socket (is the daemon running?)",
        Errno.ENOTSOCK => "the path is not a socket",
        Errno.ECONNREFUSED => "nothing listens on this socket (left behind by a daemon that has exited?)",
        _ => null,
    };

    /// <summary>The connection closed under a request: EOF, or EPIPE / ECONNRESET on the socket.</summary>
    public static bool IsClosedByPeer(VhostUserException e) =>
        e.Error is VhostUserError.Disconnected or VhostUserError.TruncatedMessage
        || (e.Error == VhostUserError.SocketError && e.InnerException is SyscallException { ErrorNumber: Errno.EPIPE or Errno.ECONNRESET });
}
