using System.Globalization;
using System.Text.Json;
using VhostDeviceCan.Can;
using VhostDeviceCan.Capture;
using VhostDeviceCan.Control.Replay;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Control.Commands;

/// <summary>
/// <c>replay</c>, <c>replays</c> and <c>replay-stop</c>: a candump log, passed as an open file
/// descriptor with the request, played onto a virtual bus or into one guest with its timing.
/// </summary>
internal static class ReplayCommands
{
    /// <summary>Fastest and slowest --speed: beyond these the log's timing means nothing.</summary>
    public const double MinSpeed = 0.001, MaxSpeed = 1000;

    public static void Register(ControlCommands table)
    {
        table.Add(new ControlCommand("replay", "play a candump log (passed as a file descriptor) onto a virtual bus or into one guest, with its timing", true, Start)
        {
            TakesFile = true,
        });
        table.Add(new ControlCommand("replays", "the replays running, with their progress", false, List));
        table.Add(new ControlCommand("replay-stop", "stop a replay by its id: what it sent", true, Stop));
    }

    private static JsonElement Start(ControlRequest request, ControlContext context)
    {
        request.AllowOnly("target", "speed", "fast", "loop", "interface", "detach");
        string target = request.RequiredName("target");
        ReplayOptions options = ParseOptions(request);
        bool detach = request.OptionalFlag("detach");
        (VirtualCanBus bus, VirtualCanBusMember? guest, string name) = FindTarget(context, target);
        FileDescriptor file = request.TakeFile()
            ?? throw new ControlException(ControlErrors.BadRequest,
                "'replay' needs the log passed as an open file descriptor with the request (SCM_RIGHTS); vhost-can-ctl replay does that");
        ReplaySession session;
        try
        {
            long frames = Validate(file, options.Interface);
            session = context.Replays.Start(id => new ReplaySession(id, name, file, frames, bus, guest, options));
        }
        catch
        {
            file.Dispose();
            throw;
        }
        if (detach) return ControlJson.ToElement(session.Info(), ControlJson.Default.ReplayInfo);
        return request.Defer(new ReplayWait(session));
    }

    internal static ReplayOptions ParseOptions(ControlRequest request)
    {
        bool fast = request.OptionalFlag("fast");
        double speed = request.OptionalNumber("speed") ?? 1;
        if (fast && request.Has("speed") && request.OptionalNumber("speed") is not null)
            throw new ControlException(ControlErrors.BadArgument, "'speed' and 'fast' exclude each other: fast ignores the log's timing");
        if (!(speed >= MinSpeed && speed <= MaxSpeed))
            throw new ControlException(ControlErrors.BadArgument, $"speed {speed.ToString(CultureInfo.InvariantCulture)} is not from {MinSpeed.ToString(CultureInfo.InvariantCulture)} to {MaxSpeed.ToString(CultureInfo.InvariantCulture)}");
        double loop = request.OptionalNumber("loop") ?? 1;
        if (loop != Math.Floor(loop) || loop < 0 || loop > int.MaxValue)
            throw new ControlException(ControlErrors.BadArgument, $"loop {loop.ToString(CultureInfo.InvariantCulture)} is not a whole number of passes (0: for ever)");
        string? interfaceName = request.OptionalString("interface");
        if (interfaceName is { Length: 0 or > CandumpLog.MaxNameLength } || (interfaceName is not null && interfaceName.Any(c => c is <= ' ' or > '~')))
            throw new ControlException(ControlErrors.BadArgument, $"interface '{interfaceName}' is no interface name (1 to {CandumpLog.MaxNameLength} printable characters)");
        return new ReplayOptions(speed, fast, (int)loop, interfaceName);
    }

    /// <summary>A bus (every member hears the replay) or a guest on a virtual bus (only it does).</summary>
    private static (VirtualCanBus Bus, VirtualCanBusMember? Guest, string Name) FindTarget(ControlContext context, string target)
    {
        if (target.StartsWith("vbus:", StringComparison.Ordinal))
        {
            VirtualCanBus bus = context.FindBus(target);
            return (bus, null, "vbus:" + bus.Name);
        }
        ControlGuest guest = context.FindGuest(target);
        VirtualCanBusMember member = guest.BusMember
            ?? throw new ControlException(ControlErrors.Unsupported,
                $"guest {guest.Index} is on the host interface {guest.DeviceName}: replay onto it with the host's canplayer");
        return (member.Bus, member, $"guest {guest.Index}");
    }

    /// <summary>
    /// Reads the whole log once before anything is sent, so a bad line refuses the replay with its
    /// number instead of ending it halfway; returns the frames a pass holds.
    /// </summary>
    private static long Validate(FileDescriptor file, string? interfaceName)
    {
        if (!file.TryGetRegularFileSize(out _))
            throw new ControlException(ControlErrors.BadArgument, "the file descriptor passed is no regular file: pass the log file itself");
        long frames;
        try
        {
            frames = new CandumpLogReader(file, interfaceName).CountFrames();
        }
        catch (CandumpLogException e)
        {
            throw new ControlException(ControlErrors.BadArgument, $"not a candump log: {e.Message}");
        }
        catch (SyscallException e)
        {
            throw new ControlException(ControlErrors.BadArgument, $"the log cannot be read: {e.Message}");
        }
        if (frames == 0)
            throw new ControlException(ControlErrors.BadArgument, interfaceName is null
                ? "the log holds no frame"
                : $"the log holds no frame of interface '{interfaceName}'");
        return frames;
    }

    private static JsonElement List(ControlRequest request, ControlContext context)
    {
        request.AllowOnly();
        var replays = context.Replays.Running.Select(s => s.Info()).ToList();
        return ControlJson.ToElement(new ReplayList(replays), ControlJson.Default.ReplayList);
    }

    private static JsonElement Stop(ControlRequest request, ControlContext context)
    {
        request.AllowOnly("replay");
        string text = request.RequiredName("replay");
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int id) || context.Replays.Find(id) is not { } session)
            throw new ControlException(ControlErrors.NoSuchReplay, $"no replay '{text}' runs (replays lists those that do)");
        session.Stop();
        if (!session.WaitEnded(ControlGuest.LoopTimeout))
            throw new ControlException(ControlErrors.Timeout, $"replay {id} did not end within {ControlGuest.LoopTimeout.TotalSeconds:0} s");
        return ControlJson.ToElement(session.Info(), ControlJson.Default.ReplayInfo);
    }

    /// <summary>The reply of a replay the client waits for: its figures once it ends.</summary>
    private sealed class ReplayWait(ReplaySession session) : IDeferredReply
    {
        public bool IsComplete => !session.Running;

        public JsonElement Result() => ControlJson.ToElement(session.Info(), ControlJson.Default.ReplayInfo);

        public void OnComplete(Action completed)
        {
            session.Ended += _ => completed();
            // Ended before the line above: its thread may not have seen the handler. Twice is harmless.
            if (!session.Running) completed();
        }

        public void Abandon() => session.Stop();
    }
}
