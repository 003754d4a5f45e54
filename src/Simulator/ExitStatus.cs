namespace VhostDeviceCan.Simulator;

/// <summary>
/// What vhost-can-sim's exit status tells a script; distinct for each kind of failure, and
/// documented in README.md.
/// </summary>
internal static class ExitStatus
{
    public const int Ok = 0;

    /// <summary>The daemon was reached but the device refused a frame or a control request, or
    /// the frames waited for did not arrive in time.</summary>
    public const int Refused = 1;

    /// <summary>The command line is wrong: an unknown option, a bad value, a frame not in cansend syntax.</summary>
    public const int Usage = 2;

    /// <summary>No daemon could be reached on the socket: missing, not a socket, nobody listening,
    /// busy with another front-end, or not answering the handshake.</summary>
    public const int Unreachable = 3;

    /// <summary>The daemon went away (or broke the protocol) after the handshake.</summary>
    public const int ConnectionLost = 4;

    /// <summary>A fault of vhost-can-sim itself (sysexits' EX_SOFTWARE).</summary>
    public const int Internal = 70;
}

/// <summary>A failure to report on one line and exit with <see cref="Status"/>.</summary>
internal sealed class CommandFailure(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}
