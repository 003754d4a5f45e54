using System.Text.Json;
using VhostDeviceCan.Can.Faults;

namespace VhostDeviceCan.Control.Commands;

/// <summary><c>fault</c>, <c>faults</c> and <c>bus-off</c>: a guest's fault rules replaced, read
/// and a bus-off forced at run time. The fault layer takes changes from any thread and applies them
/// at its loop's next call, so none of these waits for the guest's loop.</summary>
internal static class FaultCommands
{
    /// <summary>More specs than this in one request is no test anyone writes.</summary>
    private const int MaxSpecs = 32;

    public static void Register(ControlCommands table)
    {
        table.Add(new ControlCommand("fault", "replace a guest's fault rules (--fault SPEC syntax, several add up, or none)", true, SetFaults));
        table.Add(new ControlCommand("faults", "the fault rules in force and the faults injected, per guest", false, ListFaults));
        table.Add(new ControlCommand("bus-off", "force a guest's controller bus-off now, until it restarts or for a time", true, BusOff));
    }

    private static JsonElement SetFaults(ControlRequest request, ControlContext context)
    {
        request.AllowOnly("guest", "specs");
        string guestName = request.RequiredName("guest");
        IReadOnlyList<string> specs = request.RequiredStrings("specs", MaxSpecs);
        FaultRules rules = FaultRules.None;
        if (!(specs.Count == 1 && specs[0] == "none"))
        {
            foreach (string spec in specs)
            {
                if (spec == "none")
                    throw new ControlException(ControlErrors.BadArgument, "'none' stands alone: it clears every rule");
                rules = FaultSpec.Apply(rules, spec, out string? error)
                    ?? throw new ControlException(ControlErrors.BadArgument, error!);
            }
        }
        ControlGuest guest = context.FindGuest(guestName);
        FaultInjectingTransport layer = LayerOf(guest);
        layer.ReplaceRules(rules);
        return ControlJson.ToElement(Describe(guest, layer), ControlJson.Default.GuestFaults);
    }

    private static JsonElement ListFaults(ControlRequest request, ControlContext context)
    {
        request.AllowOnly("guest");
        IEnumerable<ControlGuest> guests = request.Has("guest") ? [context.FindGuest(request.RequiredName("guest"))] : context.Guests;
        var list = guests.Where(g => g.Faults is not null).Select(g => Describe(g, g.Faults!)).ToList();
        return ControlJson.ToElement(new FaultList(list), ControlJson.Default.FaultList);
    }

    private static JsonElement BusOff(ControlRequest request, ControlContext context)
    {
        request.AllowOnly("guest", "recover_after");
        string guestName = request.RequiredName("guest");
        TimeSpan? recoverAfter = null;
        if (request.OptionalString("recover_after") is { } text)
        {
            if (FaultSpec.ParseDuration(text, allowZero: false, out TimeSpan after) is { } problem)
                throw new ControlException(ControlErrors.BadArgument, $"'recover_after' {problem}");
            recoverAfter = after;
        }
        ControlGuest guest = context.FindGuest(guestName);
        FaultInjectingTransport layer = LayerOf(guest);
        layer.InjectBusOff(recoverAfter);
        return ControlJson.ToElement(Describe(guest, layer), ControlJson.Default.GuestFaults);
    }

    private static FaultInjectingTransport LayerOf(ControlGuest guest) => guest.Faults
        ?? throw new ControlException(ControlErrors.Unsupported, $"guest {guest.Index} has no fault layer");

    internal static GuestFaults Describe(ControlGuest guest, FaultInjectingTransport layer)
    {
        FaultRules rules = layer.Rules;
        return new GuestFaults(guest.Index, rules.ToString(), rules.Seed, Counts(layer.Counts));
    }

    internal static FaultCountsResult Counts(FaultCounts c) => new(c.TxRefused, c.TxDropped, c.TxBitFlipped, c.TxDuplicated, c.TxDelayed,
        c.RxDropped, c.RxBitFlipped, c.RxDuplicated, c.RxDelayed, c.BusOffs, c.Recoveries, c.LostWhileBusOff);
}
