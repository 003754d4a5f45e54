using Microsoft.Extensions.Logging;
using VhostDeviceCan.Can;
using VhostDeviceCan.Can.Faults;
using VhostDeviceCan.Device;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon;

/// <summary>The validated command line.</summary>
public sealed record DaemonOptions(string SocketPathPrefix, IReadOnlyList<DeviceSpec> Devices, LogLevel LogLevel)
{
    /// <summary>The reference limits nothing; 64 guests per daemon is far beyond any real bus.</summary>
    public const int MaxSocketCount = 64;

    /// <summary>Longest --busy-poll: past a few milliseconds polling only burns CPU.</summary>
    public const int MaxBusyPollMicroseconds = 100_000;

    public int SocketCount => Devices.Count;

    /// <summary>How long each device's loop keeps polling after an event (--busy-poll); zero
    /// sleeps at once (DeviceEventLoop.BusyPoll).</summary>
    public TimeSpan BusyPoll { get; init; }

    /// <summary>Per socket: the identifiers that guest may send (--tx-filter); null allows all.</summary>
    public IReadOnlyList<CanIdFilter?> TxFilters { get; init; } = [];

    /// <summary>Per socket: the identifiers that guest receives (--rx-filter); null passes all.</summary>
    public IReadOnlyList<CanIdFilter?> RxFilters { get; init; } = [];

    /// <summary>Per socket: that guest's transmit budget (--tx-rate); null is unlimited.</summary>
    public IReadOnlyList<TxRate?> TxRates { get; init; } = [];

    /// <summary>Longest --tx-rate rate or burst; a CAN FD bus carries far fewer frames per second.</summary>
    public const int MaxTxRate = TxRate.Max;

    /// <summary>Per socket: the faults injected into that guest's traffic (--fault); null injects none.</summary>
    public IReadOnlyList<FaultRules?> Faults { get; init; } = [];

    public FaultRules? FaultsOf(int index) => index < Faults.Count ? Faults[index] : null;

    public TxRate? TxRateOf(int index) => index < TxRates.Count ? TxRates[index] : null;
    public CanIdFilter? TxFilter(int index) => index < TxFilters.Count ? TxFilters[index] : null;
    public CanIdFilter? RxFilter(int index) => index < RxFilters.Count ? RxFilters[index] : null;

    /// <summary>Offer VIRTIO_CAN_F_CAN_FD where the bus carries FD (--no-fd turns it off: the
    /// guests then see a classic CAN controller, MTU 16).</summary>
    public bool OfferFd { get; init; } = true;

    /// <summary>Accept guest memory that cannot be sealed against shrinking
    /// (--allow-unsealed-memory; DeviceEventLoop.AllowUnsealedMemory).</summary>
    public bool AllowUnsealedMemory { get; init; }

    /// <summary>Inherited listening sockets (--socket-fd, socket activation), one per guest;
    /// empty when the daemon creates its sockets from --socket-path.</summary>
    public IReadOnlyList<int> SocketFds { get; init; } = [];

    /// <summary>The control socket (--control); null serves none (--control none, or inherited
    /// sockets without --control).</summary>
    public string? ControlPath { get; init; }

    /// <summary>Appended to --socket-path for the default control socket.</summary>
    public const string ControlSuffix = ".ctl";

    /// <summary>Mode and group of the socket files (--socket-mode, --socket-group); null leaves
    /// them to the umask, as before these options existed.</summary>
    public SocketFileAccess? SocketAccess { get; init; }

    /// <summary>Where the HTTP endpoint for Prometheus listens (--metrics); null serves none.</summary>
    public System.Net.IPEndPoint? MetricsEndpoint { get; init; }

    /// <summary>Virtual buses joined to cannelloni peers over UDP (--bridge).</summary>
    public IReadOnlyList<Bridges.BridgeSpec> Bridges { get; init; } = [];
    /// <summary>Captures recorded from start to shutdown (--capture).</summary>
    public IReadOnlyList<CaptureOption> Captures { get; init; } = [];

    /// <summary>The mode --socket-group alone implies: owner and group read and write, since a
    /// process must be able to write a socket file to connect to it.</summary>
    public const uint GroupOnlySocketMode = 0b110_110_000;

    /// <summary>Socket i for logs: its path; an inherited one's as it is bound (getsockname), or
    /// "fd N" when it has none.</summary>
    public string SocketName(int index) =>
        SocketFds.Count > 0 ? VhostDeviceCan.Interop.UnixSocket.BoundPath(SocketFds[index]) ?? $"fd {SocketFds[index]}" : SocketPath(index);

    /// <summary>Socket i is the prefix with i appended, always (the reference's README).</summary>
    public string SocketPath(int index) => SocketPathPrefix + index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Validates the command line's values; returns null and a one-line error when they make no sense.</summary>
    public static DaemonOptions? Create(DaemonArguments arguments, out string? error)
    {
        error = null;
        string? socketPath = arguments.SocketPath;
        int socketCount = arguments.SocketCount;
        IReadOnlyList<int> socketFds = arguments.SocketFds;
        int busyPollMicroseconds = arguments.BusyPollMicroseconds;
        SocketFileAccess? socketAccess = ParseSocketAccess(arguments.SocketMode, arguments.SocketGroup, socketFds.Count > 0, out error);
        if (error is not null) return null;
        if (socketFds.Count > 0)
        {
            error = CheckSocketFds(socketPath, socketFds, socketCount, arguments.SocketCountGiven);
            if (error is not null) return null;
            socketCount = socketFds.Count;
        }
        if (busyPollMicroseconds is < 0 or > MaxBusyPollMicroseconds)
        {
            error = $"--busy-poll must be between 0 and {MaxBusyPollMicroseconds} microseconds, got {busyPollMicroseconds}";
            return null;
        }
        if (socketFds.Count == 0 && string.IsNullOrEmpty(socketPath))
        {
            error = "--socket-path (or --socket-fd, or sockets passed by systemd) is required";
            return null;
        }
        if (socketCount < 1 || socketCount > MaxSocketCount)
        {
            error = $"--socket-count must be between 1 and {MaxSocketCount}, got {socketCount}";
            return null;
        }
        if (socketFds.Count == 0)
        {
            // sockaddr_un holds 107 path bytes; the longest path has the most suffix digits.
            string longest = socketPath + (socketCount - 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (System.Text.Encoding.UTF8.GetByteCount(longest) > 107)
            {
                error = $"--socket-path is too long for a Unix socket: '{longest}' exceeds 107 bytes";
                return null;
            }
            string? directory = Path.GetDirectoryName(Path.GetFullPath(socketPath!));
            if (directory is not null && !Directory.Exists(directory))
            {
                error = $"--socket-path: directory '{directory}' does not exist";
                return null;
            }
        }

        var devices = new List<DeviceSpec>(socketCount);
        if (arguments.CanDevices is null)
        {
            // The embedded default: every guest on one in-process bus, no host setup, no root.
            for (int i = 0; i < socketCount; i++) devices.Add(DeviceSpec.VirtualBus(DeviceSpec.DefaultVirtualBus));
        }
        else
        {
            string[] entries = arguments.CanDevices.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (entries.Length != socketCount)
            {
                error = $"--can-devices lists {entries.Length} device(s) but --socket-count is {socketCount}; give one per socket";
                return null;
            }
            foreach (string entry in entries)
            {
                DeviceSpec? spec = DeviceSpec.Parse(entry, out error);
                if (spec is null) return null;
                devices.Add(spec.Value);
            }
            error = DeviceSpec.CheckConsistent(devices);
            if (error is not null) return null;
            devices = DeviceSpec.ShareBusSettings(devices);
            // A host interface may be named for several sockets: each device opens its own raw
            // socket, and the kernel hands every frame one socket sends to the other sockets on
            // that interface, so two guests on "vcan0 vcan0" hear each other and the host's
            // nodes, while each socket's own frames come back only as its confirmations.
        }

        CanIdFilter?[]? tx = ParsePerSocket("--tx-filter", "RULES", "0=100-1FF,7DF", arguments.TxFilters, socketCount, ParseFilter, out error);
        if (tx is null) return null;
        CanIdFilter?[]? rx = ParsePerSocket("--rx-filter", "RULES", "0=100-1FF,7DF", arguments.RxFilters, socketCount, ParseFilter, out error);
        if (rx is null) return null;
        TxRate?[]? rates = ParsePerSocket("--tx-rate", "RATE[/BURST]", "0=1000/50", arguments.TxRates, socketCount, ParseTxRate, out error);
        if (rates is null) return null;

        FaultRules?[]? faults = ParseFaults(arguments.Faults, socketCount, i => socketFds.Count > 0 ? null : socketPath + i.ToString(System.Globalization.CultureInfo.InvariantCulture), out error);
        if (faults is null) return null;

        string? controlPath = ChooseControlPath(arguments.Control, socketFds.Count > 0 ? null : socketPath, out error);
        if (error is not null) return null;
        System.Net.IPEndPoint? metrics = null;
        if (arguments.Metrics is not null)
        {
            metrics = MetricsAddress.Parse(arguments.Metrics, out error);
            if (metrics is null) return null;
        }

        var bridges = new List<Bridges.BridgeSpec>();
        foreach (string text in arguments.Bridges)
        {
            Bridges.BridgeSpec? bridge = Daemon.Bridges.BridgeSpec.Parse(text, out error);
            if (bridge is null) return null;
            bridges.Add(bridge);
        }
        error = Daemon.Bridges.SocketCanSpec.CheckLoops(bridges);
        if (error is not null) return null;

        var captures = new List<CaptureOption>();
        foreach (string text in arguments.Captures)
        {
            CaptureOption? capture = CaptureOption.Parse(text, out error);
            error ??= capture!.CheckTarget(devices);
            if (error is not null) return null;
            captures.Add(capture!);
        }

        LogLevel? level = ParseLogLevel(arguments.LogLevel, out error);
        if (error is not null) return null;
        level ??= ParseRustLog(arguments.RustLog) ?? LogLevel.Information;
        return new DaemonOptions(socketPath ?? "", devices, level.Value)
        {
            SocketFds = socketFds,
            SocketAccess = socketAccess,
            BusyPoll = TimeSpan.FromMicroseconds(busyPollMicroseconds),
            TxFilters = tx,
            RxFilters = rx,
            TxRates = rates,
            Faults = faults,
            OfferFd = !arguments.NoFd,
            AllowUnsealedMemory = arguments.AllowUnsealedMemory,
            ControlPath = controlPath,
            MetricsEndpoint = metrics,
            Bridges = bridges,
            Captures = captures,
        };
    }

    /// <summary>The control socket's path: --control's, none for "none", else the socket path
    /// prefix with ".ctl" appended (-s /tmp/can.sock: /tmp/can.sock.ctl, beside can.sock0, ...).
    /// Inherited sockets have no prefix, so with them there is none unless --control names one.</summary>
    private static string? ChooseControlPath(string? given, string? socketPathPrefix, out string? error)
    {
        error = null;
        if (given == "none") return null;
        string? path = given ?? (string.IsNullOrEmpty(socketPathPrefix) ? null : socketPathPrefix + ControlSuffix);
        if (path is null) return null;
        if (path.Length == 0 || System.Text.Encoding.UTF8.GetByteCount(path) > 107)
        {
            error = $"--control: '{path}' is no path for a Unix socket (1 to 107 bytes)";
            return null;
        }
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null && !Directory.Exists(directory))
        {
            error = $"--control: directory '{directory}' does not exist";
            return null;
        }
        return path;
    }

    private static string? CheckSocketFds(string? socketPath, IReadOnlyList<int> fds, int socketCount, bool socketCountGiven)
    {
        if (!string.IsNullOrEmpty(socketPath)) return "give --socket-path or --socket-fd, not both";
        if (fds.Count > MaxSocketCount) return $"--socket-fd is given {fds.Count} times; at most {MaxSocketCount} guests";
        if (socketCountGiven && socketCount != fds.Count)
            return $"--socket-count is {socketCount} but --socket-fd gives {fds.Count} socket(s); one guest per fd";
        foreach (int fd in fds)
        {
            if (fd < 3) return $"--socket-fd {fd}: fds 0, 1 and 2 are standard input, output and error, not a listening socket";
            if (fds.Count(f => f == fd) > 1) return $"--socket-fd {fd} is given twice";
            if (VhostDeviceCan.Interop.UnixSocket.CheckListeningFd(fd) is { } problem) return $"--socket-fd: {problem}";
        }
        return null;
    }

    /// <summary>--socket-mode and --socket-group into what the socket files get; null without either.</summary>
    private static SocketFileAccess? ParseSocketAccess(string? modeText, string? groupText, bool inheritedSockets, out string? error)
    {
        error = null;
        if (modeText is null && groupText is null) return null;
        if (inheritedSockets)
        {
            // The daemon never creates or renames an inherited socket's file: its creator sets them.
            error = "--socket-mode and --socket-group apply to socket files the daemon creates (--socket-path); "
                + "with --socket-fd the socket's creator sets them (systemd: SocketMode=, SocketGroup=)";
            return null;
        }
        uint mode = GroupOnlySocketMode;
        if (modeText is not null)
        {
            if (modeText.Length is 0 or > 8 || modeText.Any(c => c is < '0' or > '7'))
            {
                error = $"--socket-mode '{modeText}' is not an octal mode such as 0660";
                return null;
            }
            mode = Convert.ToUInt32(modeText, 8);
            if (mode > 0b111_111_111)
            {
                error = $"--socket-mode '{modeText}' is above 0777: only the read, write and execute bits of owner, group and others apply to a socket";
                return null;
            }
        }
        uint? gid = null;
        if (groupText is not null)
        {
            // As chown(1) reads a group: a name first, then a number.
            if (GroupDatabase.TryGetId(groupText, out uint found, out string? problem)) gid = found;
            else if (uint.TryParse(groupText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out uint number)
                && number != uint.MaxValue)
                gid = number;
            else
            {
                error = $"--socket-group '{groupText}': {problem}";
                return null;
            }
        }
        return new SocketFileAccess(mode, gid);
    }

    /// <summary>"SOCKET=VALUE" option values, at most one per socket, into one setting (or null) per socket.</summary>
    private static T?[]? ParsePerSocket<T>(string option, string valueName, string example, IReadOnlyList<string> values, int socketCount,
        Func<string, (T? Value, string? Reason)> parse, out string? error) where T : class
    {
        error = null;
        var settings = new T?[socketCount];
        foreach (string value in values)
        {
            int equals = value.IndexOf('=');
            if (equals <= 0 || !int.TryParse(value.AsSpan(0, equals), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int index))
            {
                error = $"{option} '{value}' is not SOCKET={valueName} (e.g. {option} {example})";
                return null;
            }
            if (index >= socketCount)
            {
                error = $"{option} '{value}' names socket {index}, but sockets are numbered 0 to {socketCount - 1}";
                return null;
            }
            if (settings[index] is not null)
            {
                error = $"{option} is given twice for socket {index}";
                return null;
            }
            (settings[index], string? reason) = parse(value[(equals + 1)..]);
            if (settings[index] is null)
            {
                error = $"{option} '{value}': {reason}";
                return null;
            }
        }
        return settings;
    }

    /// <summary>--fault SOCKET=SPEC values; SOCKET is an index or a socket path. Several values for one
    /// socket add up (FaultSpec.Apply).</summary>
    private static FaultRules?[]? ParseFaults(IReadOnlyList<string> values, int socketCount, Func<int, string?> socketPath, out string? error)
    {
        error = null;
        var rules = new FaultRules?[socketCount];
        foreach (string value in values)
        {
            int equals = value.IndexOf('=');
            string socket = equals <= 0 ? "" : value[..equals];
            int index = -1;
            if (socket.Length > 0 && !int.TryParse(socket, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out index))
            {
                index = Enumerable.Range(0, socketCount).FirstOrDefault(i => socketPath(i) == socket, -1);
                if (index < 0)
                {
                    error = $"--fault '{value}': '{socket}' is neither a socket index nor one of the socket paths";
                    return null;
                }
            }
            if (equals <= 0 || equals == value.Length - 1)
            {
                error = $"--fault '{value}' is not SOCKET=SPEC (e.g. --fault 0=tx:drop-every=10)";
                return null;
            }
            if (index >= socketCount)
            {
                error = $"--fault '{value}' names socket {index}, but sockets are numbered 0 to {socketCount - 1}";
                return null;
            }
            FaultRules? applied = FaultSpec.Apply(rules[index] ?? FaultRules.None, value[(equals + 1)..], out string? reason);
            if (applied is null)
            {
                error = $"--fault {reason}";
                return null;
            }
            rules[index] = applied;
        }
        return rules;
    }

    private static (CanIdFilter?, string?) ParseFilter(string text) => (CanIdFilter.Parse(text, out string? reason), reason);

    private static (TxRate?, string?) ParseTxRate(string text) => (TxRate.Parse(text, out string? reason), reason);

    public static LogLevel? ParseLogLevel(string? value, out string? error)
    {
        error = null;
        if (value is null) return null;
        LogLevel? level = LevelFromName(value);
        if (level is null) error = $"--log-level '{value}' is not one of off, error, warn, info, debug, trace";
        return level;
    }

    /// <summary>RUST_LOG as the reference reads it: "debug", or "vhost_device_can=debug,other=info".
    /// Unparseable values are ignored, as env_logger does.</summary>
    public static LogLevel? ParseRustLog(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        LogLevel? fallback = null;
        foreach (string directive in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int equals = directive.IndexOf('=');
            if (equals < 0)
            {
                fallback = LevelFromName(directive) ?? fallback;
                continue;
            }
            string target = directive[..equals];
            if (target is "vhost_device_can" or "vhost-device-can")
                return LevelFromName(directive[(equals + 1)..]) ?? fallback;
        }
        return fallback;
    }

    private static LogLevel? LevelFromName(string name) => name.ToLowerInvariant() switch
    {
        "off" or "none" => LogLevel.None,
        "error" => LogLevel.Error,
        "warn" or "warning" => LogLevel.Warning,
        "info" => LogLevel.Information,
        "debug" => LogLevel.Debug,
        "trace" => LogLevel.Trace,
        _ => null,
    };
}
