using System.Globalization;
using System.Text.Json;
using VhostDeviceCan.Control;

namespace VhostDeviceCan.Ctl;

/// <summary>Replies as text for people; <c>--json</c> prints them as the daemon sent them.</summary>
internal static class StatusText
{
    public static void Write(JsonElement result, TextWriter output)
    {
        StatusResult status = result.Deserialize(ControlJson.Default.StatusResult)
            ?? throw new FormatException("an empty status result");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"vhost-device-can {status.Version}, up {Uptime(status.UptimeSeconds)}, control protocol {status.Protocol}"));
        foreach (GuestStatus guest in status.Guests)
        {
            output.WriteLine($"guest {guest.Index}  {guest.Socket}  on {guest.Device}");
            output.WriteLine(guest.Frontend is { } f
                ? $"  front-end: pid {f.Pid} ({f.Command}), uid {f.Uid}, gid {f.Gid}"
                : guest.Connected ? "  front-end: connected (credentials unknown)" : "  front-end: none");
            output.WriteLine($"  controller: {guest.Controller}; bus: {guest.BusState}; features: {(guest.Features.Count == 0 ? "none negotiated" : string.Join(' ', guest.Features))}");
            output.WriteLine($"  tx filter: {guest.TxFilter ?? "none"}; rx filter: {guest.RxFilter ?? "none"}; tx rate: {guest.TxRate ?? "unlimited"}");
            GuestCounters c = guest.Counters;
            output.WriteLine($"  tx {c.TxFrames} (rejected {c.TxRejected}, while stopped {c.TxNotOkStopped}, bus down {c.TxNotOkBusDown}, "
                + $"filtered {c.TxFiltered}, throttled {c.TxThrottled} times)");
            output.WriteLine($"  rx {c.RxFrames} (filtered {c.RxFiltered}; dropped: backlog full {c.RxDroppedBacklogFull}, on the bus {c.RxDroppedOnBus}, "
                + $"while bus-off {c.RxDroppedBusOff}, stopped {c.RxDroppedWhileStopped}, unsupported {c.RxDroppedUnsupported}, "
                + $"small buffer {c.RxDroppedBufferTooSmall}); bus-off {c.BusOffEvents} times");
            if (guest.Faults is { } faults && (faults.Rules != "none" || faults.Counts != EmptyCounts))
            {
                output.Write("  ");
                WriteGuestFaults(faults, output, indent: "  ");
            }
        }
        foreach (BusStatus bus in status.Buses)
        {
            string members = string.Join(", ", bus.Guests.Select(g => $"guest {g}"));
            if (bus.HostNodes > 0) members += $", {bus.HostNodes} host node(s)";
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"bus vbus:{bus.Name}: {bus.Members} members ({members}), overrun after {bus.OverrunAfterMs:0} ms"));
        }
        WriteBridges(status, output);
    }

    /// <summary>Bridges after the buses: peer state, then every counter the bridge reports, by name.</summary>
    private static void WriteBridges(StatusResult status, TextWriter output)
    {
        foreach (BridgeStatus bridge in status.Bridges ?? [])
        {
            output.WriteLine($"bridge {bridge.Name}: {bridge.Kind} peer {bridge.Peer} {(bridge.PeerUp ? "up" : "down")}");
            if (bridge.Counters.Count > 0)
                output.WriteLine("  " + string.Join(", ", bridge.Counters.Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Key.Replace('_', ' ')} {c.Value}"))));
        }
    }

    public static void WriteSettings(JsonElement result, TextWriter output)
    {
        GuestSettings settings = result.Deserialize(ControlJson.Default.GuestSettings)
            ?? throw new FormatException("an empty result");
        output.WriteLine($"guest {settings.Guest}: tx filter {settings.TxFilter ?? "none"}; rx filter {settings.RxFilter ?? "none"}; tx rate {settings.TxRate ?? "unlimited"}");
    }

    public static void WriteInjected(JsonElement result, TextWriter output)
    {
        InjectResult injected = result.Deserialize(ControlJson.Default.InjectResult)
            ?? throw new FormatException("an empty result");
        output.WriteLine($"{injected.Target}: delivered {injected.Delivered} of {injected.Frames} frame(s)" + (injected.Note is { } note ? $": {note}" : ""));
    }

    public static void WriteCommands(JsonElement result, TextWriter output)
    {
        CommandList list = result.Deserialize(ControlJson.Default.CommandList)
            ?? throw new FormatException("an empty result");
        output.WriteLine($"control protocol {list.Protocol}");
        foreach (CommandInfo command in list.Commands) output.WriteLine($"  {command.Name,-12} {command.Summary}");
    }

    public static void WriteFaults(JsonElement result, TextWriter output)
    {
        GuestFaults faults = result.Deserialize(ControlJson.Default.GuestFaults)
            ?? throw new FormatException("an empty result");
        WriteGuestFaults(faults, output);
    }

    public static void WriteFaultList(JsonElement result, TextWriter output)
    {
        FaultList list = result.Deserialize(ControlJson.Default.FaultList)
            ?? throw new FormatException("an empty result");
        foreach (GuestFaults faults in list.Guests) WriteGuestFaults(faults, output);
    }

    private static readonly FaultCountsResult EmptyCounts = new(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    private static void WriteGuestFaults(GuestFaults faults, TextWriter output, string indent = "")
    {
        FaultCountsResult c = faults.Counts;
        output.WriteLine($"{(indent.Length == 0 ? $"guest {faults.Guest}: " : "")}faults {faults.Rules}" + (faults.Seed is { } seed && faults.Rules != "none" && !faults.Rules.Contains("seed") ? $"; seed {seed}" : ""));
        output.Write(indent);
        output.WriteLine($"  tx refused {c.TxRefused}, dropped {c.TxDropped}, bit-flipped {c.TxBitFlipped}, duplicated {c.TxDuplicated}, delayed {c.TxDelayed}");
        output.Write(indent);
        output.WriteLine($"  rx dropped {c.RxDropped}, bit-flipped {c.RxBitFlipped}, duplicated {c.RxDuplicated}, delayed {c.RxDelayed}");
        output.Write(indent);
        output.WriteLine($"  bus-offs {c.BusOffs}, recoveries {c.Recoveries}, frames lost while bus-off {c.LostWhileBusOff}");
    }

    public static void WriteCapture(JsonElement result, TextWriter output)
    {
        CaptureInfo capture = result.Deserialize(ControlJson.Default.CaptureInfo)
            ?? throw new FormatException("an empty result");
        output.WriteLine($"capture {capture.Id}: {capture.Target} to {capture.Path ?? "standard output"} as {capture.Format}");
    }

    public static void WriteCaptureStopped(JsonElement result, TextWriter output)
    {
        CaptureStopped stopped = result.Deserialize(ControlJson.Default.CaptureStopped)
            ?? throw new FormatException("an empty result");
        output.WriteLine($"capture {stopped.Id}: {stopped.Target} to {stopped.Path}: recorded {stopped.Recorded}, dropped {stopped.Dropped}, {stopped.Files} file(s)"
            + (stopped.Error is { } error ? $"; ended early: {error}" : ""));
    }

    public static void WriteReplay(JsonElement result, TextWriter output) =>
        WriteReplayLine(result.Deserialize(ControlJson.Default.ReplayInfo) ?? throw new FormatException("an empty replay result"), output);

    public static void WriteReplays(JsonElement result, TextWriter output)
    {
        ReplayList list = result.Deserialize(ControlJson.Default.ReplayList) ?? throw new FormatException("an empty replays result");
        if (list.Replays.Count == 0) output.WriteLine("no replay runs");
        foreach (ReplayInfo replay in list.Replays) WriteReplayLine(replay, output);
    }

    /// <summary>"replay 1: vbus:default: sent 120 of 120 (pass 1 of 1) in 2.001 s at speed 1; late 0 (most 0.42 ms); done".</summary>
    private static void WriteReplayLine(ReplayInfo r, TextWriter output)
    {
        long total = r.Passes is { } passes ? r.FramesPerPass * passes : 0;
        string of = total > 0 ? $" of {total}" : "";
        string pass = r.Passes is { } p ? $"{r.PassesDone} of {p} passes" : $"{r.PassesDone} passes, looping";
        string pace = r.Speed is { } speed ? string.Create(CultureInfo.InvariantCulture, $"speed {speed}") : "fast";
        string late = r.MaxLatenessMs is { } most ? string.Create(CultureInfo.InvariantCulture, $"; late {r.LateFrames} (most {most:0.###} ms)") : "";
        string iface = r.Interface is { } name ? $" ({name} only)" : "";
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"replay {r.Id}: {r.Target}{iface}: sent {r.Frames}{of} ({pass}) in {r.DurationSeconds:0.000} s at {pace}{late}; {r.Result ?? "running"}"));
    }

    public static void WriteCaptures(JsonElement result, TextWriter output)
    {
        CaptureList list = result.Deserialize(ControlJson.Default.CaptureList)
            ?? throw new FormatException("an empty result");
        foreach (CaptureInfo c in list.Captures)
            output.WriteLine($"capture {(c.Id is { } id ? id.ToString(System.Globalization.CultureInfo.InvariantCulture) : "-")}: {c.Target} to {c.Path ?? c.StreamTo ?? "a stream"} as {c.Format}, "
                + $"{(c.Running ? "running" : "ended")}, recorded {c.Recorded}, dropped {c.Dropped}");
    }

    private static string Uptime(double seconds)
    {
        var span = TimeSpan.FromSeconds(seconds);
        return span.TotalHours >= 1 ? $"{(int)span.TotalHours} h {span.Minutes} min" : span.TotalMinutes >= 1 ? $"{span.Minutes} min {span.Seconds} s" : $"{span.Seconds} s";
    }
}
