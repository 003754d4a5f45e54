using VhostDeviceCan.CommandLine;
using System.CommandLine;
using System.Text;
using System.Text.Json;
using VhostDeviceCan.Can;
using VhostDeviceCan.Control;
using VhostDeviceCan.Ctl;
using VhostDeviceCan.Device;

// vhost-can-ctl: talks to a running vhost-device-can over its control socket
// (docs/control-protocol.md). Exit statuses: see ExitStatus and README.md.
var controlSocket = new Option<string>("--control", "-C")
{
    Description = "The daemon's control socket (vhost-device-can -s PATH serves PATH.ctl)",
    HelpName = "SOCKET",
    // Checked when a command runs, not by the parser: --help needs no socket.
    Recursive = true,
};
var json = new Option<bool>("--json")
{
    Description = "Print the daemon's reply as it is, one JSON object, instead of text",
    Recursive = true,
};
var guest = new Argument<string>("guest") { Description = "A guest: its index (0, 1, ...) or its socket's path" };
var direction = new Argument<string>("direction") { Description = "tx (what the guest may send) or rx (what it receives)" };
direction.AcceptOnlyFromAmong("tx", "rx");
var filter = new Argument<string>("filter") { Description = "Identifier rules as for --tx-filter (100-1FF,7DF, 123:7FF, 00000123), or none" };
var rate = new Argument<string>("rate") { Description = "RATE[/BURST] frames per second as for --tx-rate, or none" };
var target = new Argument<string>("target") { Description = "vbus:NAME (every guest on that virtual bus, as a host node) or a guest (index or socket path: that guest only)" };
var frames = new Argument<string[]>("frames") { Description = "Frames in cansend syntax: 123#DEADBEEF, 1F334455#11, 123#R, 123##1<data>", Arity = ArgumentArity.OneOrMore };
var requestText = new Argument<string>("json") { Description = "A request object, sent as it is ('{\"v\":1,\"cmd\":\"status\"}')" };

var status = new Command("status", "Every guest (front-end, features, controller, filters, rate, counters) and every virtual bus");
status.SetAction(r => Run(r.GetValue(controlSocket), r.GetValue(json), client => client.Call("status", _ => { }), StatusText.Write));

var setFilter = new Command("set-filter", "Change a guest's TX or RX identifier filter while it runs") { guest, direction, filter };
setFilter.SetAction(r =>
{
    string text = r.GetValue(filter)!;
    if (text != "none" && CanIdFilter.Parse(text, out string? error) is null) return Usage(error!);
    return Run(r.GetValue(controlSocket), r.GetValue(json), client => client.Call("set-filter", w =>
    {
        w.WriteString("guest", r.GetValue(guest));
        w.WriteString("direction", r.GetValue(direction));
        w.WriteString("filter", text);
    }), StatusText.WriteSettings);
});

var setRate = new Command("set-rate", "Change a guest's transmit rate while it runs") { guest, rate };
setRate.SetAction(r =>
{
    string text = r.GetValue(rate)!;
    if (text != "none" && TxRate.Parse(text, out string? error) is null) return Usage($"rate '{text}': {error}");
    return Run(r.GetValue(controlSocket), r.GetValue(json), client => client.Call("set-rate", w =>
    {
        w.WriteString("guest", r.GetValue(guest));
        w.WriteString("rate", text);
    }), StatusText.WriteSettings);
});

var inject = new Command("inject", "Put frames onto a virtual bus as a host node, or into one guest only") { target, frames };
inject.SetAction(r =>
{
    string[] texts = r.GetValue(frames)!;
    foreach (string text in texts)
        if (!CansendSyntax.TryParse(text, out _, out string? error)) return Usage($"frame '{text}': {error}");
    return Run(r.GetValue(controlSocket), r.GetValue(json), client => client.Call("inject", w =>
    {
        w.WriteString("target", r.GetValue(target));
        w.WriteStartArray("frames");
        foreach (string text in texts) w.WriteStringValue(text);
        w.WriteEndArray();
    }), StatusText.WriteInjected);
});

var specs = new Argument<string[]>("spec") { Description = "Fault rules as --fault takes them after SOCKET= (tx:drop-every=10, rx:delay=2ms, bus-off-after=100,recover=restart, seed=N); several add up; none clears them", Arity = ArgumentArity.OneOrMore };
var fault = new Command("fault", "Replace a guest's fault rules while it runs") { guest, specs };
fault.SetAction(r => Run(r.GetValue(controlSocket), r.GetValue(json), client => client.Call("fault", w =>
{
    w.WriteString("guest", r.GetValue(guest));
    w.WriteStartArray("specs");
    foreach (string text in r.GetValue(specs)!) w.WriteStringValue(text);
    w.WriteEndArray();
}), StatusText.WriteFaults));

var someGuest = new Argument<string?>("guest") { Description = "A guest (index or socket path); every guest when left out", Arity = ArgumentArity.ZeroOrOne };
var faults = new Command("faults", "The fault rules in force and the faults injected so far, per guest") { someGuest };
faults.SetAction(r => Run(r.GetValue(controlSocket), r.GetValue(json), client => client.Call("faults", w =>
{
    if (r.GetValue(someGuest) is { } name) w.WriteString("guest", name);
}), StatusText.WriteFaultList));

var recoverAfter = new Option<string?>("--recover-after")
{
    Description = "Come back on the bus after this time (500ms, 2s) instead of on the guest's restart",
    HelpName = "TIME",
};
var busOff = new Command("bus-off", "Force a guest's controller bus-off now") { guest, recoverAfter };
busOff.SetAction(r => Run(r.GetValue(controlSocket), r.GetValue(json), client => client.Call("bus-off", w =>
{
    w.WriteString("guest", r.GetValue(guest));
    if (r.GetValue(recoverAfter) is { } after) w.WriteString("recover_after", after);
}), StatusText.WriteFaults));

var captureTarget = new Argument<string>("target") { Description = "all, a guest (index or socket path), or a bus as -d names it (vbus:default, vcan0)" };
var captureFile = new Option<string>("-w", "--write")
{
    Description = "The file the daemon writes (a relative path is taken from this directory), or - for standard output: the capture comes over the control connection until this program's output is closed",
    HelpName = "FILE",
    Required = true,
};
var captureFormat = new Option<string?>("--format", "-f") { Description = "pcapng or log (candump's); default from FILE's ending, else pcapng", HelpName = "FORMAT" };
captureFormat.AcceptOnlyFromAmong("pcapng", "log");
var captureMaxSize = new Option<string?>("--max-size") { Description = "Rotate FILE to FILE.1, FILE.2 ... past this size (bytes, or with k, M, G; at least 4096)", HelpName = "SIZE" };
var captureKeep = new Option<string?>("--keep") { Description = "Old files kept when rotating (default 10)", HelpName = "N" };
var capture = new Command("capture", "Start capturing to a file in the daemon; prints the capture's id") { captureTarget, captureFile, captureFormat, captureMaxSize, captureKeep };
capture.SetAction(r => r.GetValue(captureFile) == "-" ? StreamCapture(r) : Run(r.GetValue(controlSocket), r.GetValue(json), client => client.Call("capture", w =>
{
    w.WriteString("target", r.GetValue(captureTarget));
    w.WriteString("path", Path.GetFullPath(r.GetValue(captureFile)!));
    if (r.GetValue(captureFormat) is { } format) w.WriteString("format", format);
    if (r.GetValue(captureMaxSize) is { } size) w.WriteString("max_size", size);
    if (r.GetValue(captureKeep) is { } keep) w.WriteString("keep", keep);
}), StatusText.WriteCapture));

var captureId = new Argument<string>("id") { Description = "The id capture printed" };
var captureStop = new Command("capture-stop", "Stop a capture: what it recorded and dropped, how many files") { captureId };
captureStop.SetAction(r => Run(r.GetValue(controlSocket), r.GetValue(json), client => client.Call("capture-stop", w =>
    w.WriteString("capture", r.GetValue(captureId))), StatusText.WriteCaptureStopped));

var captures = new Command("captures", "The captures running, with what they recorded");
captures.SetAction(r => Run(r.GetValue(controlSocket), r.GetValue(json), client => client.Call("captures", _ => { }), StatusText.WriteCaptures));

var replayTarget = new Argument<string>("target") { Description = "vbus:NAME (every guest on that virtual bus hears it, as from a host node) or a guest (index or socket path: that guest only)" };
var replayFile = new Argument<string>("file") { Description = "A candump log (candump -l, a capture's .log, asc2log's output)" };
var replaySpeed = new Option<double?>("--speed") { Description = "Play the log's timing this many times faster (2: in half the time, 0.5: in twice the time)", HelpName = "X" };
var replayFast = new Option<bool>("--fast") { Description = "Ignore the log's timing: as fast as the bus takes the frames" };
var replayLoop = new Option<int?>("--loop") { Description = "Play the log N times (for ever without N)", HelpName = "N", Arity = ArgumentArity.ZeroOrOne };
var replayInterface = new Option<string?>("--interface") { Description = "Only the log's lines of this interface (of a log of several)", HelpName = "NAME" };
var replayDetach = new Option<bool>("--detach") { Description = "Return at once with the replay's id instead of waiting for its end" };
var replay = new Command("replay", "Play a candump log onto a virtual bus or into one guest with its timing; waits for its end (Ctrl-C stops it)")
{
    replayTarget, replayFile, replaySpeed, replayFast, replayLoop, replayInterface, replayDetach,
};
replay.SetAction(r =>
{
    double? speed = r.GetValue(replaySpeed);
    if (speed is { } x && !(x > 0)) return Usage($"--speed {x.ToString(System.Globalization.CultureInfo.InvariantCulture)}: the speed must be above 0");
    if (speed is not null && r.GetValue(replayFast)) return Usage("--speed and --fast exclude each other");
    int? passes = r.GetResult(replayLoop) is null ? null : r.GetValue(replayLoop) ?? 0;
    if (passes < 0) return Usage("--loop N: N must be 1 or more (without N: for ever)");
    string path = r.GetValue(replayFile)!;
    Microsoft.Win32.SafeHandles.SafeFileHandle file;
    try
    {
        file = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
    }
    catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
    {
        Console.Error.WriteLine($"vhost-can-ctl: error: {path}: {e.Message}");
        return ExitStatus.Refused;
    }
    using (file)
    {
        bool detach = r.GetValue(replayDetach);
        return Run(r.GetValue(controlSocket), r.GetValue(json), client => client.CallWithFile("replay", w =>
        {
            w.WriteString("target", r.GetValue(replayTarget));
            if (speed is { } s) w.WriteNumber("speed", s);
            if (r.GetValue(replayFast)) w.WriteBoolean("fast", true);
            if (passes is { } n) w.WriteNumber("loop", n);
            if (r.GetValue(replayInterface) is { } name) w.WriteString("interface", name);
            if (detach) w.WriteBoolean("detach", true);
        }, (int)file.DangerousGetHandle(), wait: !detach), StatusText.WriteReplay);
    }
});

var replayId = new Argument<string>("id") { Description = "The id replay --detach printed (replays lists them)" };
var replayStop = new Command("replay-stop", "Stop a replay: what it sent") { replayId };
replayStop.SetAction(r => Run(r.GetValue(controlSocket), r.GetValue(json), client => client.Call("replay-stop", w =>
    w.WriteString("replay", r.GetValue(replayId))), StatusText.WriteReplay));

var replays = new Command("replays", "The replays running, with their progress");
replays.SetAction(r => Run(r.GetValue(controlSocket), r.GetValue(json), client => client.Call("replays", _ => { }), StatusText.WriteReplays));

var metrics = new Command("metrics", "The daemon's counters in Prometheus' text format, as its --metrics endpoint serves them");
metrics.SetAction(r => Run(r.GetValue(controlSocket), r.GetValue(json), client => client.Call("metrics", _ => { }),
    (result, output) => output.Write(result.GetProperty("text").GetString())));

var commands = new Command("commands", "The commands the daemon knows, with the protocol version");
commands.SetAction(r => Run(r.GetValue(controlSocket), r.GetValue(json), client => client.Call("commands", _ => { }), StatusText.WriteCommands));

var request = new Command("request", "Send one request line as given and print the reply (for commands this client does not know yet)") { requestText };
request.SetAction(r => Run(r.GetValue(controlSocket), json: true, client => client.CallRaw(Encoding.UTF8.GetBytes(r.GetValue(requestText)!)), (_, _) => { }));

var root = new RootCommand("vhost-can-ctl: control a running vhost-device-can through its control socket")
{
    controlSocket, json, status, setFilter, setRate, inject, fault, faults, busOff, capture, captureStop, captures, replay, replayStop, replays, metrics,
    commands, request,
};
foreach (var option in root.Options)
    if (option is VersionOption) option.Aliases.Add("-V");
ParseResult parsed = root.Parse(args);
if (parsed.Errors.Count > 0) return Usage($"{parsed.Errors[0].Message} (see --help)");
return parsed.Invoke();

// capture -w -: the reply, then the capture itself on standard output until its reader leaves.
int StreamCapture(ParseResult r)
{
    string format = r.GetValue(captureFormat) ?? "pcapng";
    if (r.GetValue(captureMaxSize) is not null || r.GetValue(captureKeep) is not null)
        return Usage("--max-size and --keep rotate files; standard output is not rotated");
    if (format == "pcapng" && !Console.IsOutputRedirected)
        return Usage("pcapng is not for a terminal: pipe it (| wireshark -k -i -, | tshark -i -), write it to a file, or use -f log");
    return Run(r.GetValue(controlSocket), json: false, client =>
    {
        byte[] reply = client.Call("capture", w =>
        {
            w.WriteString("target", r.GetValue(captureTarget));
            w.WriteBoolean("stream", true);
            w.WriteString("format", format);
        });
        if (ControlReply.Parse(reply) is { Ok: true } accepted)
        {
            if (r.GetValue(json)) Console.Error.WriteLine(Encoding.UTF8.GetString(reply));
            else StatusText.WriteCapture(accepted.Result, Console.Error);
            // A FileStream on fd 1, not the console stream, which swallows EPIPE: the copy must
            // learn that its reader has gone, so that closing the connection stops the capture.
            using Stream output = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(1, ownsHandle: false), FileAccess.Write, 1);
            client.CopyStreamTo(output);
        }
        return reply;
    }, (_, _) => { });
}

static int Usage(string message)
{
    // One line, whatever the parser's message looks like ("Must be one of:\n\t'tx'\n\t'rx'").
    string line = string.Join(' ', message.Split(['\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    Console.Error.WriteLine($"vhost-can-ctl: error: {line}");
    return ExitStatus.Usage;
}

// One line on stderr and a distinct status for every failure; never a stack trace.
static int Run(string? socket, bool json, Func<ControlClient, byte[]> call, Action<JsonElement, TextWriter> print)
{
    if (string.IsNullOrEmpty(socket)) return Usage("-C/--control SOCKET is required: the daemon's control socket (-s PATH serves PATH.ctl)");
    try
    {
        using var client = ControlClient.Connect(socket);
        byte[] line = call(client);
        ControlReply reply;
        try
        {
            reply = ControlReply.Parse(line);
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            throw new CommandFailure(ExitStatus.ConnectionLost, $"{socket}: not a control protocol reply: {e.Message}");
        }
        if (json) Console.Out.WriteLine(Encoding.UTF8.GetString(line));
        if (!reply.Ok)
        {
            int status = reply.ErrorCode == ControlErrors.TooManyClients ? ExitStatus.Unreachable : ExitStatus.Refused;
            Console.Error.WriteLine($"vhost-can-ctl: error: {reply.ErrorMessage} ({reply.ErrorCode})");
            return status;
        }
        if (!json) print(reply.Result, Console.Out);
        return ExitStatus.Ok;
    }
    catch (CommandFailure e)
    {
        Console.Error.WriteLine($"vhost-can-ctl: error: {e.Message}");
        return e.Status;
    }
    catch (Exception e) when (e is not OutOfMemoryException)
    {
        Console.Error.WriteLine($"vhost-can-ctl: error: internal error: {e.Message}");
        return ExitStatus.Internal;
    }
}
