namespace VhostDeviceCan.Ctl;

/// <summary>What vhost-can-ctl's exit status tells a script (as vhost-can-sim's, README.md).</summary>
internal static class ExitStatus
{
    public const int Ok = 0;

    /// <summary>The daemon answered with an error reply.</summary>
    public const int Refused = 1;

    /// <summary>The command line is wrong: an unknown option, a bad filter, rate or frame.</summary>
    public const int Usage = 2;

    /// <summary>No daemon reached: no such socket, not a socket, nobody listening, or refused (too many clients).</summary>
    public const int Unreachable = 3;

    /// <summary>The daemon closed the connection or sent no reply of this protocol in time.</summary>
    public const int ConnectionLost = 4;

    /// <summary>A fault of vhost-can-ctl itself (sysexits' EX_SOFTWARE).</summary>
    public const int Internal = 70;
}

/// <summary>A failure to report on one line and exit with <see cref="Status"/>.</summary>
internal sealed class CommandFailure(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}
