using System.CommandLine;
using VhostDeviceCan.Simulator;

// vhost-can-sim: a guest (VMM + virtio-can driver) in one command, to move frames through a
// running vhost-device-can without a VM.
var socket = new Argument<string>("socket") { Description = "The daemon's vhost-user socket (e.g. /tmp/can.sock0)" };
var frames = new Argument<string[]>("frames") { Description = "Frames in cansend syntax: 123#DEADBEEF, 1F334455#11, 123#R, 123##1<data>", Arity = ArgumentArity.OneOrMore };
var count = new Option<int>("--count", "-n") { Description = "Exit after this many frames" };
var timeout = new Option<double>("--timeout", "-t") { Description = "Exit after this many seconds without a frame (0 = wait forever)" };
var log = new Option<bool>("--log", "-L") { Description = "Print frames as ID#DATA (candump -L style) instead of columns" };
var noStart = new Option<bool>("--stopped") { Description = "Leave the controller stopped (no START)" };
var socketB = new Argument<string>("receiver") { Description = "A second socket on the same bus, for the receiving guest" };
var benchFrames = new Option<int>("--frames") { Description = "Frames in the throughput runs", DefaultValueFactory = _ => 1_000_000 };
var samples = new Option<int>("--samples") { Description = "Round trips in the latency run", DefaultValueFactory = _ => 20_000 };
var daemonPid = new Option<int>("--daemon-pid") { Description = "The daemon's pid, to report its CPU time and RSS" };
var queueSize = new Option<int>("--queue-size") { Description = "Ring size per queue", DefaultValueFactory = _ => 256 };
var idleSeconds = new Option<double>("--idle-seconds") { Description = "Idle measurement length", DefaultValueFactory = _ => 10 };
var inProcess = new Option<bool>("--in-process") { Description = "Serve the two sockets from devices inside this process (to count allocations per frame)" };

var send = new Command("send", "Send frames, like cansend; exits 1 if the device refused any") { socket, frames, noStart };
send.SetAction(r => Commands.Send(r.GetValue(socket)!, r.GetValue(frames)!, !r.GetValue(noStart)));
var dump = new Command("dump", "Print received frames, like candump") { socket, count, timeout, log };
dump.SetAction(r => Commands.Dump(r.GetValue(socket)!, r.GetValue(count), r.GetValue(timeout), r.GetValue(log)));
var info = new Command("info", "Show the device's features, configuration and status") { socket };
info.SetAction(r => Commands.Info(r.GetValue(socket)!));
var bench = new Command("bench", "Measure guest-to-guest throughput and latency through the daemon")
{
    socket, socketB, benchFrames, samples, daemonPid, queueSize, idleSeconds, inProcess,
};
bench.SetAction(r =>
{
    string a = r.GetValue(socket)!, b = r.GetValue(socketB)!;
    if (!r.GetValue(inProcess))
        return Benchmark.Run(a, b, r.GetValue(benchFrames), r.GetValue(samples), r.GetValue(daemonPid), r.GetValue(queueSize), r.GetValue(idleSeconds));
    using var daemon = new InProcessDaemon(a, b);
    return Benchmark.Run(a, b, r.GetValue(benchFrames), r.GetValue(samples), Environment.ProcessId, r.GetValue(queueSize), idleSeconds: 0);
});

var root = new RootCommand("vhost-can-sim: a simulated guest for vhost-device-can") { send, dump, info, bench };
foreach (var option in root.Options)
    if (option is VersionOption) option.Aliases.Add("-V");
ParseResult parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    Console.Error.WriteLine($"vhost-can-sim: error: {parsed.Errors[0].Message} (see --help)");
    return 2;
}
return parsed.Invoke();
