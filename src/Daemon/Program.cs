using System.CommandLine;
using VhostDeviceCan.CommandLine;
using VhostDeviceCan.Daemon;

var socketPath = new Option<string>("--socket-path", "-s")
{
    Description = "Location of the vhost-user Unix sockets; socket i is PATH followed by i (PATH0, PATH1, ...)",
};
// Ranges are checked with the other rules in DaemonOptions; the parsers only refuse non-numbers.
var socketCount = WholeNumbers.Option("--socket-count", ["-c"], "Number of guests (sockets) to serve", int.MinValue, fallback: 1);
var canDevices = new Option<string?>("--can-devices", "-d")
{
    Description = "One CAN device per socket, space-separated: a host interface (can0, vcan0; several sockets may "
        + "name the same one) or vbus:NAME for the built-in virtual bus (vbus:NAME,overrun-ms=N: how long senders wait "
        + "for a guest that takes no frames, default 100). Default: every socket on vbus:default",
};
var logLevel = new Option<string?>("--log-level", "-l")
{
    Description = "off, error, warn, info, debug or trace (default: RUST_LOG if set, else info)",
};

var noFd = new Option<bool>("--no-fd")
{
    Description = "Never offer CAN FD: guests see a classic CAN controller even on an FD-capable bus",
};

var busyPoll = WholeNumbers.Option("--busy-poll", [], "Microseconds each guest's event loop keeps polling after an event before it sleeps: "
        + "lower latency for more CPU while traffic flows (idle guests still cost nothing). Default 0: never poll",
    int.MinValue);
busyPoll.HelpName = "MICROSECONDS";

var txFilter = new Option<string[]>("--tx-filter")
{
    Description = "CAN identifiers guest SOCKET may send, others are refused: SOCKET=RULE,RULE... where a rule is "
        + "ID, ID:MASK, ID~MASK (candump's notation) or LOW-HIGH; 3 hex digits for standard IDs, 8 for extended. Repeat per socket",
    HelpName = "SOCKET=RULES",
};
var rxFilter = new Option<string[]>("--rx-filter")
{
    Description = "CAN identifiers guest SOCKET receives, others never reach it (same rules as --tx-filter). Repeat per socket",
    HelpName = "SOCKET=RULES",
};

var txRate = new Option<string[]>("--tx-rate")
{
    Description = "Transmit budget of guest SOCKET: at most RATE frames per second, in bursts of up to BURST "
        + "(default a tenth of a second's worth); requests beyond it wait, the guest sees a busy queue. Repeat per socket",
    HelpName = "SOCKET=RATE[/BURST]",
};

var fault = new Option<string[]>("--fault")
{
    Description = "Inject faults into guest SOCKET's traffic (an index or a socket path): SOCKET=tx:FAULT,... or rx:FAULT,... "
        + "(drop=P%, drop-every=N, duplicate=P%, duplicate-every=N, flip-bit=P%, flip-bit-every=N, delay=TIME[+-TIME]; tx only: "
        + "refuse=P%, refuse-every=N), SOCKET=bus-off-after=N or bus-off-at=TIME with recover=restart or recover=TIME, "
        + "seed=N for reproducible random choices. Repeatable",
    HelpName = "SOCKET=SPEC",
};

var socketFd = WholeNumbers.Repeated("--socket-fd", "Serve an inherited, already listening Unix socket instead of creating one "
    + "(socket activation); repeat once per guest, instead of --socket-path. Without either, the sockets systemd passes (LISTEN_FDS) are served",
    int.MinValue);
socketFd.HelpName = "FD";

var allowUnsealedMemory = new Option<bool>("--allow-unsealed-memory")
{
    Description = "Accept guest memory that cannot be sealed against shrinking (memory-backend-file, memfd with seal=off). "
        + "Risky: a front-end that shrinks such memory kills the whole daemon, every guest with it",
};

var socketMode = new Option<string?>("--socket-mode")
{
    Description = "Permission bits of the socket files, octal (e.g. 0660): a VMM must be able to write a socket to connect. "
        + "Set before the file appears at its path. Default: from the umask (0660 with --socket-group alone). Not with --socket-fd",
    HelpName = "MODE",
};
var socketGroup = new Option<string?>("--socket-group")
{
    Description = "Group of the socket files, a name or numeric id (e.g. kvm, libvirt-qemu), so that a VMM running as "
        + "another user in that group can connect. Needs root or membership of the group. Not with --socket-fd",
    HelpName = "GROUP",
};

var control = new Option<string?>("--control")
{
    Description = "The control socket, for vhost-can-ctl: a path, or none for no control socket. Default: the --socket-path "
        + "prefix followed by .ctl (-s /tmp/can.sock: /tmp/can.sock.ctl); none with --socket-fd or socket activation. "
        + "Its mode and group are the guest sockets' (--socket-mode, --socket-group)",
    HelpName = "PATH|none",
};

var metrics = new Option<string?>("--metrics")
{
    Description = "Serve metrics for Prometheus over HTTP at ADDRESS:PORT, path /metrics: 127.0.0.1:9410, [::1]:9410, "
        + ":9410 (loopback); 0.0.0.0:9410 or [::]:9410 expose them to the network. Port 0 picks a free one (logged)",
    HelpName = "ADDRESS:PORT",
};

var bridge = new Option<string[]>("--bridge")
{
    Description = "Join virtual bus NAME to a cannelloni peer over UDP: vbus:NAME=cannelloni-udp:[BIND_ADDRESS:]BIND_PORT@PEER_ADDRESS:PEER_PORT "
        + "(binds to loopback without BIND_ADDRESS; port 0 picks one, logged). Only datagrams from the peer are taken. "
        + "Over TCP: vbus:NAME=cannelloni-tcp-server:[BIND_ADDRESS:]PORT (one peer at a time) or "
        + "vbus:NAME=cannelloni-tcp-client:PEER_ADDRESS:PORT (reconnects). "
        + "cannelloni has no authentication: keep it on a trusted network. Repeat for more peers (the daemon is then a hub). "
        + "vbus:NAME=socketcan:IFACE joins the bus to host CAN interface IFACE (can0, vcan0)",
    HelpName = "BRIDGE",
};

var capture = new Option<string[]>("--capture")
{
    Description = "Record every frame TARGET's guests send and receive, from start to shutdown, to FILE: TARGET is all, "
        + "a guest index or a bus (vbus:NAME, can0); FILE.pcapng for Wireshark or FILE.log for candump's log (log2asc, "
        + "canplayer), or format=pcapng|log; max-size=SIZE (k, M, G) rotates FILE to FILE.1, FILE.2 ..., keeping keep=N "
        + "(default 10). Repeatable",
    HelpName = CaptureOption.Syntax,
};

var root = new RootCommand("vhost-device-can: a VirtIO CAN device for virtual machines, served over vhost-user")
{
    socketPath, socketFd, socketCount, canDevices, logLevel, noFd, busyPoll, txFilter, rxFilter, txRate, fault, allowUnsealedMemory,
    socketMode, socketGroup, control, metrics, capture, bridge,
};
foreach (var option in root.Options)
    if (option is VersionOption) option.Aliases.Add("-V");

ParseResult parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    // One line naming the problem, exit status 2, like the reference's argument parser.
    StartupError.Write($"{parsed.Errors[0].Message} (see --help)");
    return 2;
}
root.SetAction(result =>
{
    IReadOnlyList<int> fds = result.GetValue(socketFd) ?? [];
    if (fds.Count == 0 && result.GetValue(socketPath) is null)
    {
        // Socket activation: an explicit --socket-path or --socket-fd always wins over it.
        IReadOnlyList<SocketActivation.PassedSocket>? passed = SocketActivation.Inherited(out string? activationError);
        if (passed is null)
        {
            StartupError.Write(activationError);
            return 2;
        }
        fds = passed.Select(s => s.Fd).ToArray();
    }
    var arguments = new DaemonArguments
    {
        SocketPath = result.GetValue(socketPath),
        SocketCount = result.GetValue(socketCount),
        SocketCountGiven = result.GetResult(socketCount) is { Implicit: false },
        SocketFds = fds,
        CanDevices = result.GetValue(canDevices),
        LogLevel = result.GetValue(logLevel),
        RustLog = Environment.GetEnvironmentVariable("RUST_LOG"),
        NoFd = result.GetValue(noFd),
        BusyPollMicroseconds = result.GetValue(busyPoll),
        TxFilters = result.GetValue(txFilter) ?? [],
        RxFilters = result.GetValue(rxFilter) ?? [],
        TxRates = result.GetValue(txRate) ?? [],
        Faults = result.GetValue(fault) ?? [],
        AllowUnsealedMemory = result.GetValue(allowUnsealedMemory),
        SocketMode = result.GetValue(socketMode),
        SocketGroup = result.GetValue(socketGroup),
        Control = result.GetValue(control),
        Metrics = result.GetValue(metrics),
        Bridges = result.GetValue(bridge) ?? [],
        Captures = result.GetValue(capture) ?? [],
    };
    DaemonOptions? options = DaemonOptions.Create(arguments, out string? error);
    if (options is null)
    {
        StartupError.Write(error);
        return 2;
    }
    return CanDaemon.Run(options);
});
return parsed.Invoke();
