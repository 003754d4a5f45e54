using VhostDeviceCan.CommandLine;
using System.CommandLine;
using VhostDeviceCan.Simulator;
using VhostDeviceCan.VhostUser;

// vhost-can-sim: a guest (VMM + virtio-can driver) in one command, to move frames through a
// running vhost-device-can without a VM. Exit statuses: see ExitStatus and README.md.
var socket = new Argument<string>("socket") { Description = "The daemon's vhost-user socket (e.g. /tmp/can.sock0)" };
var frames = new Argument<string[]>("frames") { Description = "Frames in cansend syntax: 123#DEADBEEF, 1F334455#11, 123#R, 123##1<data>", Arity = ArgumentArity.OneOrMore };
var count = Options.Count("--count", ["-n"], "Exit after this many frames (0 = no limit)", min: 0);
var timeout = Options.Seconds("--timeout", ["-T"], "Exit after this many seconds without a frame (0 = wait forever)");
var timestamps = Options.Timestamps("--timestamp", ["-t"], "Timestamp each line as candump does: a (absolute), A (date), d (delta), z (from zero)");
var log = new Option<bool>("--log", "-L") { Description = "Print candump's log format: (SECONDS.MICROS) SOCKET ID#DATA, for log2asc and canplayer" };
var noStart = new Option<bool>("--stopped") { Description = "Leave the controller stopped (no START)" };
var socketB = new Argument<string>("receiver") { Description = "A second socket on the same bus, for the receiving guest" };
var benchFrames = Options.Count("--frames", [], "Frames in the throughput runs", min: 1, fallback: 1_000_000);
var samples = Options.Count("--samples", [], "Round trips in the latency run", min: 1, fallback: 20_000);
var daemonPid = Options.Count("--daemon-pid", [], "The daemon's pid, to report its CPU time and RSS", min: 1);
var queueSize = Options.QueueSize("--queue-size", "Ring size per queue, a power of two from 2 to 1024", fallback: 256);
var idleSeconds = Options.Seconds("--idle-seconds", [], "Idle measurement length", fallback: 10);
var benchTimeout = Options.Seconds("--timeout", ["-T"], "Give up when no frame arrives for this many seconds", fallback: 5);
var unpaced = new Option<bool>("--unpaced") { Description = "Send as fast as the device takes frames, with no window on the receiver; report sent, received and lost, and skip the other runs" };
var inProcess = new Option<bool>("--in-process") { Description = "Serve the two sockets from devices inside this process (to count allocations per frame)" };
var idleGuest = new Option<string>("--idle-guest") { Description = "A third socket on the same bus: a guest there starts its controller and then takes no frame, as a hung guest does", HelpName = "SOCKET" };

var send = new Command("send", "Send frames, like cansend; exits 1 if the device refused any") { socket, frames, noStart };
send.SetAction(r => Run(() => Commands.Send(r.GetValue(socket)!, r.GetValue(frames)!, !r.GetValue(noStart))));
var dump = new Command("dump", "Print received frames, like candump") { socket, count, timeout, timestamps, log };
dump.SetAction(r => Run(() => DumpCommand.Run(r.GetValue(socket)!, r.GetValue(count), r.GetValue(timeout), r.GetValue(log), r.GetValue(timestamps))));
var info = new Command("info", "Show the device's features, configuration and status") { socket };
info.SetAction(r => Run(() => Commands.Info(r.GetValue(socket)!)));
var benchSocketA = new Argument<string>("socket") { Description = "The sending guest's socket (not with --mesh)", Arity = ArgumentArity.ZeroOrOne };
var benchSocketB = new Argument<string>("receiver") { Description = "A second socket on the same bus, for the receiving guest (not with --mesh)", Arity = ArgumentArity.ZeroOrOne };
var meshCounts = new Option<string>("--mesh") { Description = "Instead: for each guest count in LIST (2 to 64, comma-separated), start the vhost-device-can beside this program with that many sockets on one bus, run mesh on it and print a table", HelpName = "LIST" };
var bench = new Command("bench", "Measure guest-to-guest throughput and latency through the daemon")
{
    benchSocketA, benchSocketB, benchFrames, samples, daemonPid, queueSize, idleSeconds, benchTimeout, unpaced, inProcess, idleGuest, meshCounts,
};
bench.SetAction(r => Run(() =>
{
    if (r.GetValue(meshCounts) is { } list)
    {
        if (r.GetValue(benchSocketA) is not null)
            throw new CommandFailure(ExitStatus.Usage, "bench --mesh starts its own daemons: give it no sockets");
        var counts = new List<int>();
        foreach (string item in list.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(item, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n)
                || n < Mesh.MinGuests || n > Mesh.MaxGuests)
                throw new CommandFailure(ExitStatus.Usage, $"--mesh wants guest counts from {Mesh.MinGuests} to {Mesh.MaxGuests}, comma-separated; got '{item}'");
            counts.Add(n);
        }
        return MeshTable.Run(counts, r.GetValue(benchFrames), r.GetValue(queueSize), TimeSpan.FromSeconds(r.GetValue(benchTimeout)));
    }
    if (r.GetValue(benchSocketA) is null || r.GetValue(benchSocketB) is null)
        throw new CommandFailure(ExitStatus.Usage, "bench needs two sockets on one bus (or --mesh LIST)");
    var settings = new BenchmarkSettings(r.GetValue(benchSocketA)!, r.GetValue(benchSocketB)!, r.GetValue(benchFrames), r.GetValue(samples),
        r.GetValue(daemonPid), r.GetValue(queueSize), r.GetValue(idleSeconds), TimeSpan.FromSeconds(r.GetValue(benchTimeout)), r.GetValue(unpaced), r.GetValue(idleGuest));
    string[] sockets = [settings.SocketA, settings.SocketB, .. settings.IdleGuest is { } idle ? new[] { idle } : []];
    if (sockets.Select(Path.GetFullPath).Distinct().Count() != sockets.Length)
        throw new CommandFailure(ExitStatus.Usage, "bench needs two different sockets on one bus, and another for --idle-guest (a socket serves one guest)");
    if (!r.GetValue(inProcess)) return Benchmark.Run(settings);
    using var daemon = new InProcessDaemon(sockets);
    return Benchmark.Run(settings with { DaemonPid = Environment.ProcessId, IdleSeconds = 0 });
}));

var prefix = new Argument<string>("socket-prefix") { Description = "The daemon's -s prefix: the guests connect to PREFIX0 to PREFIX{GUESTS-1}" };
var guests = new Argument<string>("guests") { Description = $"Guests on the bus, {Mesh.MinGuests} to {Mesh.MaxGuests} (the daemon's -c)" };
var meshFrames = Options.Count("--frames", [], "Frames sent in all, shared equally between the guests", min: 1, fallback: 1_000_000);
var mesh = new Command("mesh", "Measure how the bus scales: every guest sends unpaced and receives what all the others send")
{
    prefix, guests, meshFrames, queueSize, daemonPid, benchTimeout,
};
mesh.SetAction(r => Run(() =>
{
    string text = r.GetValue(guests)!;
    if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int count)
        || count < Mesh.MinGuests || count > Mesh.MaxGuests)
        throw new CommandFailure(ExitStatus.Usage, $"GUESTS wants a whole number from {Mesh.MinGuests} to {Mesh.MaxGuests}; got '{text}'");
    return Mesh.Run(new MeshSettings(r.GetValue(prefix)!, count, r.GetValue(meshFrames), r.GetValue(queueSize), r.GetValue(daemonPid),
        TimeSpan.FromSeconds(r.GetValue(benchTimeout))));
}));

var controlPath = new Argument<string>("control") { Description = "The daemon's control socket (-s PATH serves PATH.ctl)" };
var replayRate = Options.Count("--rate", [], "Frames a second in the log replayed", min: 1, fallback: 1000);
var replaySeconds = Options.Seconds("--seconds", [], "The log's length in seconds", fallback: 10);
var replayTarget = new Option<string>("--target") { Description = "What the daemon replays into: vbus:NAME or a guest index", HelpName = "TARGET", DefaultValueFactory = _ => "vbus:default" };
var replayBench = new Command("replay-bench", "Measure the daemon's replay timing at a guest: arrival gaps against the log's (p50, p99, max)")
{
    controlPath, socket, replayRate, replaySeconds, replayTarget, benchTimeout,
};
replayBench.SetAction(r => Run(() => ReplayBench.Run(new ReplayBenchSettings(r.GetValue(controlPath)!, r.GetValue(socket)!, r.GetValue(replayTarget)!,
    r.GetValue(replayRate), r.GetValue(replaySeconds), TimeSpan.FromSeconds(r.GetValue(benchTimeout))))));

var hubDaemons = Options.Count("--daemons", [], $"Bench daemons joined to the hub, {HubBench.MinDaemons} to {HubBench.MaxDaemons}, two guests each", min: HubBench.MinDaemons, fallback: 4);
var hubRate = Options.Count("--rate", [], "Frames per second each guest sends", min: 1, fallback: 500);
var hubSeconds = Options.Seconds("--seconds", [], "How long every guest sends", fallback: 5);
var hubTimeout = new Option<int?>("--timeout-us") { Description = "The bridges' buffer timeout in µs (timeout-us=; default cannelloni's 100000)", HelpName = "N" };
var hubDaemon = new Option<string>("--daemon") { Description = "The vhost-device-can to start (default: the one next to vhost-can-sim)", HelpName = "PATH" };
var benchHub = new Command("bench-hub", "Start a hub daemon and N daemons bridged to it over loopback UDP (cannelloni), two guests each; measure frames/s, loss, order and one-way latency across the hub")
{
    hubDaemons, hubRate, hubSeconds, hubTimeout, hubDaemon, benchTimeout,
};
benchHub.SetAction(r => Run(() =>
{
    int daemons = r.GetValue(hubDaemons);
    if (daemons > HubBench.MaxDaemons)
        throw new CommandFailure(ExitStatus.Usage, $"--daemons wants a whole number from {HubBench.MinDaemons} to {HubBench.MaxDaemons}; got {daemons}");
    if (r.GetValue(hubTimeout) is < 0 or > 10_000_000)
        throw new CommandFailure(ExitStatus.Usage, "--timeout-us wants microseconds from 0 to 10000000");
    return HubBench.Run(new HubBenchSettings(daemons, r.GetValue(hubRate), Math.Max(r.GetValue(hubSeconds), 0.1), r.GetValue(hubTimeout),
        r.GetValue(hubDaemon), TimeSpan.FromSeconds(r.GetValue(benchTimeout))));
}));

var root = new RootCommand("vhost-can-sim: a simulated guest for vhost-device-can") { send, dump, info, bench, mesh, replayBench, benchHub };
foreach (var option in root.Options)
    if (option is VersionOption) option.Aliases.Add("-V");
ParseResult parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    Console.Error.WriteLine($"vhost-can-sim: error: {parsed.Errors[0].Message} (see --help)");
    return ExitStatus.Usage;
}
return parsed.Invoke();

// One line on stderr and a distinct status for every failure; never a stack trace.
static int Run(Func<int> command)
{
    try
    {
        return command();
    }
    catch (CommandFailure e)
    {
        return Report(e.Status, e.Message);
    }
    catch (Exception e) when (e is VhostUserException or IOException or TimeoutException)
    {
        return Report(ExitStatus.ConnectionLost, $"lost the daemon: {e.Message}");
    }
    catch (Exception e) when (e is not OutOfMemoryException)
    {
        return Report(ExitStatus.Internal, $"internal error: {e.Message}");
    }
}

static int Report(int status, string message)
{
    Console.Error.WriteLine($"vhost-can-sim: error: {message}");
    return status;
}
