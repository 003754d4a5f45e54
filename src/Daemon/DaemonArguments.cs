namespace VhostDeviceCan.Daemon;

/// <summary>
/// The command line's values as the parser read them, not yet checked against each other;
/// <see cref="DaemonOptions.Create"/> validates them. One property per option, so an option is
/// added in one place here, one in Program and one check in DaemonOptions.
/// </summary>
public sealed record DaemonArguments
{
    /// <summary>--socket-path: the prefix socket i's index is appended to.</summary>
    public string? SocketPath { get; init; }

    /// <summary>--socket-count.</summary>
    public int SocketCount { get; init; } = 1;

    /// <summary>Whether --socket-count was on the command line, not its default: with --socket-fd
    /// a given count must agree with the number of fds.</summary>
    public bool SocketCountGiven { get; init; }

    /// <summary>--socket-fd, in order, once per guest.</summary>
    public IReadOnlyList<int> SocketFds { get; init; } = [];

    /// <summary>--can-devices: space-separated, one per socket; null puts every socket on vbus:default.</summary>
    public string? CanDevices { get; init; }

    /// <summary>--log-level.</summary>
    public string? LogLevel { get; init; }

    /// <summary>The RUST_LOG environment variable, honoured without --log-level.</summary>
    public string? RustLog { get; init; }

    /// <summary>--no-fd.</summary>
    public bool NoFd { get; init; }

    /// <summary>--busy-poll.</summary>
    public int BusyPollMicroseconds { get; init; }

    /// <summary>--tx-filter values, SOCKET=RULES each.</summary>
    public IReadOnlyList<string> TxFilters { get; init; } = [];

    /// <summary>--rx-filter values, SOCKET=RULES each.</summary>
    public IReadOnlyList<string> RxFilters { get; init; } = [];

    /// <summary>--tx-rate values, SOCKET=RATE[/BURST] each.</summary>
    public IReadOnlyList<string> TxRates { get; init; } = [];

    /// <summary>--fault values, SOCKET=SPEC each, repeatable per socket.</summary>
    public IReadOnlyList<string> Faults { get; init; } = [];

    /// <summary>--allow-unsealed-memory.</summary>
    public bool AllowUnsealedMemory { get; init; }

    /// <summary>--socket-mode: octal permission bits of the socket files.</summary>
    public string? SocketMode { get; init; }

    /// <summary>--socket-group: group name or numeric id of the socket files.</summary>
    public string? SocketGroup { get; init; }

    /// <summary>--control: the control socket's path, or "none"; null for the default.</summary>
    public string? Control { get; init; }

    /// <summary>--metrics: ADDRESS:PORT of the HTTP endpoint for Prometheus; null serves none.</summary>
    public string? Metrics { get; init; }

    /// <summary>--bridge values, vbus:NAME=cannelloni-udp:... each.</summary>
    public IReadOnlyList<string> Bridges { get; init; } = [];
    /// <summary>--capture values, TARGET=FILE[,OPTIONS] each.</summary>
    public IReadOnlyList<string> Captures { get; init; } = [];
}
