using System.Text.Json;
using VhostDeviceCan.Can;
using VhostDeviceCan.Device;
using VhostDeviceCan.Device.Metrics;
using VhostDeviceCan.VirtioCanWire;

namespace VhostDeviceCan.Control.Commands;

/// <summary><c>status</c>: every guest (front-end, features, controller, settings, counters) and
/// every virtual bus with its members. Read from the control thread: counters and state are
/// written by each loop and may be a moment old, but a stuck loop cannot stall the answer.</summary>
internal static class StatusCommand
{
    public static void Register(ControlCommands table) =>
        table.Add(new ControlCommand("status", "every guest and every virtual bus, with counters", false, Run));

    private static JsonElement Run(ControlRequest request, ControlContext context)
    {
        request.AllowOnly();
        var guests = context.Guests.Select(Describe).ToList();
        var buses = context.Buses.Select(bus => new BusStatus(bus.Name, bus.MemberCount,
            context.Guests.Where(g => ReferenceEquals(g.BusMember?.Bus, bus)).Select(g => g.Index).ToList(),
            Math.Max(0, bus.MemberCount - context.Guests.Count(g => ReferenceEquals(g.BusMember?.Bus, bus))),
            bus.OverrunAfter.TotalMilliseconds)).ToList();
        var status = new StatusResult(context.Version, ControlProtocol.Version, Math.Round(context.Uptime.TotalSeconds, 3), guests, buses,
            [.. context.Bridges.Select(Describe)]);
        return ControlJson.ToElement(status, ControlJson.Default.StatusResult);
    }

    private static GuestStatus Describe(ControlGuest guest)
    {
        CanDevice device = guest.Device;
        FrontendStatus? frontend = guest.Loop.Frontend is { } peer ? new FrontendStatus(peer.Pid, peer.Command, peer.Uid, peer.Gid) : null;
        ulong negotiated = device.NegotiatedFeatures;
        string[] features = negotiated == 0 ? [] : CanDevice.DescribeFeatures(negotiated).Split(' ');
        return new GuestStatus(guest.Index, guest.Socket, guest.DeviceName, guest.Loop.HasFrontend, frontend, features,
            ControllerState(device), device.TxFilter?.ToString(), device.RxFilter?.ToString(), Format(device.TxRate), Counters(device.Counters),
            BusState(device.Transport.BusState), guest.Faults is { } layer ? FaultCommands.Describe(guest, layer) : null);
    }

    private static BridgeStatus Describe(IBridgeReport bridge)
    {
        var counters = new List<BridgeCounter>();
        bridge.ReadCounters(counters);
        var byName = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (BridgeCounter counter in counters) byName[counter.StatusKey] = counter.Value;
        return new BridgeStatus(bridge.Name, bridge.Bus, bridge.Kind, bridge.Peer, bridge.PeerUp, byName);
    }

    /// <summary>bus-off while the status bit says so (until the guest restarts), else started or stopped.</summary>
    internal static string ControllerState(CanDevice device) =>
        (device.Status & VirtioCan.VIRTIO_CAN_S_CTRL_BUSOFF) != 0 || device.Transport.BusState == CanBusState.BusOff ? "bus-off"
        : device.IsStarted ? "started" : "stopped";

    /// <summary>The bus as the guest's transport sees it (a forced bus-off included): active, bus-off or down.</summary>
    internal static string BusState(CanBusState state) => state switch
    {
        CanBusState.BusOff => "bus-off",
        CanBusState.Down => "down",
        _ => "active",
    };

    /// <summary>A rate as --tx-rate writes it: RATE/BURST.</summary>
    internal static string? Format(TxRate? rate) => rate is null ? null : $"{rate.FramesPerSecond}/{rate.Burst}";

    private static GuestCounters Counters(CanDeviceCounters c) => new(
        Volatile.Read(ref c.TxFrames), c.TxRejectedTotal, Volatile.Read(ref c.TxNotOkStopped), Volatile.Read(ref c.TxNotOkBusDown),
        Volatile.Read(ref c.TxFiltered), Volatile.Read(ref c.TxThrottled), Volatile.Read(ref c.RxFrames), Volatile.Read(ref c.RxFiltered),
        Volatile.Read(ref c.RxDroppedBacklogFull), Volatile.Read(ref c.RxDroppedOnBus), Volatile.Read(ref c.RxDroppedBusOff),
        Volatile.Read(ref c.RxDroppedWhileStopped), c.RxDroppedUnsupportedTotal, Volatile.Read(ref c.RxDroppedBufferTooSmall),
        Volatile.Read(ref c.BusOffEvents));
}
