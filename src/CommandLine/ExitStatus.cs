namespace VhostDeviceCan.CommandLine;

/// <summary>
/// What the exit status of vhost-can-sim and vhost-can-ctl tells a script: one meaning per
/// value in both programs, documented in README.md and their manual pages.
/// </summary>
public static class ExitStatus
{
    public const int Ok = 0;

    /// <summary>The daemon was reached but refused: the device refused a frame or a control
    /// request, the control socket answered with an error, or frames waited for did not arrive in time.</summary>
    public const int Refused = 1;

    /// <summary>The command line is wrong: an unknown option, a bad value, a frame not in cansend syntax.</summary>
    public const int Usage = 2;

    /// <summary>No daemon could be reached: no such socket, not a socket, nobody listening, busy
    /// with another front-end or every control connection taken, or no answer to the handshake.</summary>
    public const int Unreachable = 3;

    /// <summary>The daemon went away, broke the protocol or sent no reply in time.</summary>
    public const int ConnectionLost = 4;

    /// <summary>A fault of the program itself (sysexits' EX_SOFTWARE).</summary>
    public const int Internal = 70;
}

/// <summary>A failure to report on one line and exit with <see cref="Status"/>.</summary>
public sealed class CommandFailure(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}
