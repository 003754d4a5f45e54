using System.Text;
using VhostDeviceCan.Can;
using VhostDeviceCan.Can.Faults;
using VhostDeviceCan.VirtioCanWire;

namespace VhostDeviceCan.Device.Metrics;

/// <summary>
/// Renders the daemon's devices in Prometheus' text exposition format, version 0.0.4: what the
/// <c>--metrics</c> HTTP endpoint serves. Self-contained: it reads only the objects it is given,
/// from any thread, without locks and without disturbing the devices' event loops.
/// </summary>
/// <remarks>
/// Every per-guest series carries <c>guest</c> (the socket's index), <c>socket</c> (its path) and
/// <c>bus</c> (<c>vbus:NAME</c> or the host interface); they never change while the daemon runs,
/// so they cost no cardinality. Per-bus series carry <c>bus</c> only. A family appears once, with
/// its HELP and TYPE lines, all guests' samples under it. A scrape is not the hot path: it may
/// allocate, but it never writes to a device.
/// </remarks>
public static class MetricsText
{
    /// <summary>The Content-Type of the text format.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public const string Prefix = "vhost_device_can_";

    private static readonly TxVerdict[] s_txVerdicts = [.. Enum.GetValues<TxVerdict>().Where(v => v != TxVerdict.Ok)];
    private static readonly RxVerdict[] s_rxVerdicts = [.. Enum.GetValues<RxVerdict>().Where(v => v != RxVerdict.Ok)];
    private static readonly string[] s_txReasons = [.. s_txVerdicts.Select(v => SnakeCase(v.ToString()))];
    private static readonly string[] s_rxReasons = [.. s_rxVerdicts.Select(v => SnakeCase(v.ToString()))];

    /// <summary>Writes every family for <paramref name="guests"/> to <paramref name="output"/>.</summary>
    public static void Write(TextWriter output, IReadOnlyList<GuestMetricsSource> guests)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(guests);
        var w = new ExpositionWriter(output);
        WriteState(w, guests);
        WriteTraffic(w, guests);
        WriteRefusals(w, guests);
        WriteDrops(w, guests);
        WriteQueues(w, guests);
        WriteLatency(w, guests);
        WriteBuses(w, guests);
    }

    /// <summary><see cref="Write(TextWriter, IReadOnlyList{GuestMetricsSource})"/> as UTF-8 bytes, as served over HTTP.</summary>
    public static byte[] RenderUtf8(IReadOnlyList<GuestMetricsSource> guests)
    {
        var text = new StringWriter(System.Globalization.CultureInfo.InvariantCulture);
        Write(text, guests);
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    /// <summary>
    /// Writes the bridges' families after <see cref="Write(TextWriter, IReadOnlyList{GuestMetricsSource})"/>:
    /// <c>vhost_device_can_bridge_peer_up</c> and each counter family the bridges report, every
    /// sample labelled <c>bridge</c> (the option as understood), <c>bus</c> and <c>kind</c>.
    /// Nothing is written without bridges.
    /// </summary>
    public static void WriteBridges(TextWriter output, IReadOnlyList<IBridgeReport> bridges)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(bridges);
        if (bridges.Count == 0) return;
        var w = new ExpositionWriter(output);
        const string PeerUp = BridgePrefix + "peer_up";
        w.Family(PeerUp, "gauge", "1 while the bridge's peer is there (heard from within its timeout, or connected), else 0.");
        foreach (IBridgeReport bridge in bridges) BridgeSample(w, PeerUp, bridge).Value(bridge.PeerUp);

        // Grouped by family, in the order first reported, so each family is written once.
        var families = new List<(string Family, string Help, List<(IBridgeReport Bridge, BridgeCounter Counter)> Samples)>();
        var counters = new List<BridgeCounter>();
        foreach (IBridgeReport bridge in bridges)
        {
            counters.Clear();
            bridge.ReadCounters(counters);
            foreach (BridgeCounter counter in counters)
            {
                int index = families.FindIndex(f => f.Family == counter.Family);
                if (index < 0)
                {
                    families.Add((counter.Family, counter.Help, []));
                    index = families.Count - 1;
                }
                families[index].Samples.Add((bridge, counter));
            }
        }
        foreach (var (family, help, samples) in families)
        {
            w.Family(BridgePrefix + family, "counter", help);
            foreach (var (bridge, counter) in samples)
            {
                var sample = BridgeSample(w, BridgePrefix + family, bridge);
                if (counter.LabelKey is { } key) sample.Label(key, counter.LabelValue ?? "");
                sample.Value(counter.Value);
            }
        }
    }

    /// <summary>The guests' and the bridges' families as UTF-8 bytes, as served over HTTP.</summary>
    public static byte[] RenderUtf8(IReadOnlyList<GuestMetricsSource> guests, IReadOnlyList<IBridgeReport> bridges)
    {
        var text = new StringWriter(System.Globalization.CultureInfo.InvariantCulture);
        Write(text, guests);
        WriteBridges(text, bridges);
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private const string BridgePrefix = Prefix + "bridge_";

    private static ExpositionWriter BridgeSample(ExpositionWriter w, string name, IBridgeReport bridge) =>
        w.Sample(name).Label("bridge", bridge.Name).Label("bus", bridge.Bus).Label("kind", bridge.Kind);

    private static void WriteState(ExpositionWriter w, IReadOnlyList<GuestMetricsSource> guests)
    {
        const string Connected = Prefix + "guest_connected";
        w.Family(Connected, "gauge", "1 while a vhost-user front-end (a VMM) is connected to the guest's socket, else 0.");
        foreach (var g in guests) w.Sample(Connected, g).Value(g.IsConnected());

        const string State = Prefix + "controller_state";
        w.Family(State, "gauge", "The guest's CAN controller state as its driver sees it: 1 for the current state (started, stopped or bus_off), 0 for the others.");
        foreach (var g in guests)
        {
            CanControllerState state = g.Device.ControllerState;
            w.Sample(State, g).Label("state", "started").Value(state == CanControllerState.Started);
            w.Sample(State, g).Label("state", "stopped").Value(state == CanControllerState.Stopped);
            w.Sample(State, g).Label("state", "bus_off").Value(state == CanControllerState.BusOff);
        }

        const string BusOff = Prefix + "bus_off_total";
        w.Family(BusOff, "counter", "Times the guest's controller went bus-off while started.");
        foreach (var g in guests) w.Sample(BusOff, g).Value(Read(ref g.Device.Counters.BusOffEvents));

        const string Control = Prefix + "control_requests_total";
        w.Family(Control, "counter", "Controlq requests (START, STOP) by result: ok, or refused (answered NOT_OK).");
        foreach (var g in guests)
        {
            long all = Read(ref g.Device.Counters.ControlRequests), refused = Read(ref g.Device.Counters.ControlRejected);
            w.Sample(Control, g).Label("result", "ok").Value(Math.Max(0, all - refused));
            w.Sample(Control, g).Label("result", "refused").Value(refused);
        }
    }

    private static void WriteTraffic(ExpositionWriter w, IReadOnlyList<GuestMetricsSource> guests)
    {
        const string Frames = Prefix + "frames_total";
        w.Family(Frames, "counter", "CAN frames moved: direction tx from the guest onto the bus, rx from the bus into the guest's receive buffers.");
        foreach (var g in guests)
        {
            w.Sample(Frames, g).Label("direction", "tx").Value(Read(ref g.Device.Counters.TxFrames));
            w.Sample(Frames, g).Label("direction", "rx").Value(Read(ref g.Device.Counters.RxFrames));
        }

        const string Bytes = Prefix + "bytes_total";
        w.Family(Bytes, "counter", "CAN payload bytes of the frames in vhost_device_can_frames_total (a remote frame carries none).");
        foreach (var g in guests)
        {
            w.Sample(Bytes, g).Label("direction", "tx").Value(Read(ref g.Device.Counters.TxBytes));
            w.Sample(Bytes, g).Label("direction", "rx").Value(Read(ref g.Device.Counters.RxBytes));
        }

        const string Throttled = Prefix + "tx_throttled_total";
        w.Family(Throttled, "counter", "Times the guest's transmit requests had to wait in its queue for its --tx-rate budget (nothing is lost).");
        foreach (var g in guests) w.Sample(Throttled, g).Value(Read(ref g.Device.Counters.TxThrottled));

        const string Filtered = Prefix + "rx_filtered_total";
        w.Family(Filtered, "counter", "Frames on the guest's bus outside its --rx-filter, not delivered by design.");
        foreach (var g in guests) w.Sample(Filtered, g).Value(Read(ref g.Device.Counters.RxFiltered));
    }

    private static void WriteRefusals(ExpositionWriter w, IReadOnlyList<GuestMetricsSource> guests)
    {
        const string Refused = Prefix + "tx_refused_total";
        w.Family(Refused, "counter", "Transmit requests answered NOT_OK, by reason: malformed requests by what is wrong with them, "
            + "no_result_buffer (no writable byte for the result), controller_stopped, tx_filter (outside --tx-filter), "
            + "bus_down (interface down or controller bus-off), not_confirmed (LATE_TX_ACK: the bus reported the frame did not go out), "
            + "cancelled (still pending when the controller stopped, went bus-off or the queue stopped).");
        foreach (var g in guests)
        {
            CanDeviceCounters c = g.Device.Counters;
            for (int i = 0; i < s_txVerdicts.Length; i++) w.Sample(Refused, g).Label("reason", s_txReasons[i]).Value(c.TxRejected(s_txVerdicts[i]));
            w.Sample(Refused, g).Label("reason", "no_result_buffer").Value(Read(ref c.TxMalformedChains));
            w.Sample(Refused, g).Label("reason", "controller_stopped").Value(Read(ref c.TxNotOkStopped));
            w.Sample(Refused, g).Label("reason", "tx_filter").Value(Read(ref c.TxFiltered));
            w.Sample(Refused, g).Label("reason", "bus_down").Value(Read(ref c.TxNotOkBusDown));
            w.Sample(Refused, g).Label("reason", "not_confirmed").Value(Read(ref c.TxNotConfirmed));
            w.Sample(Refused, g).Label("reason", "cancelled").Value(Read(ref c.TxCancelled));
        }
    }

    private static void WriteDrops(ExpositionWriter w, IReadOnlyList<GuestMetricsSource> guests)
    {
        const string Dropped = Prefix + "dropped_frames_total";
        w.Family(Dropped, "counter", "Frames meant for the guest that never reached it, by direction and reason: backlog_full (the guest posted "
            + "no receive buffers and the device's backlog was full), bus_overrun (virtual bus: the guest took nothing for the overrun bound), "
            + "bus_off (arrived while its controller was bus-off), controller_stopped (arrived while stopped, or waited when it stopped), "
            + "guest_buffer_too_small, and frames the guest cannot take by what they are (error_frame, fd_not_negotiated, ...).");
        foreach (var g in guests)
        {
            CanDeviceCounters c = g.Device.Counters;
            w.Sample(Dropped, g).Label("direction", "rx").Label("reason", "backlog_full").Value(Read(ref c.RxDroppedBacklogFull));
            // The transport's own counts are newer than the copies the device keeps for its logs.
            w.Sample(Dropped, g).Label("direction", "rx").Label("reason", "bus_overrun").Value(Math.Max(g.Device.Transport.Dropped, Read(ref c.RxDroppedOnBus)));
            w.Sample(Dropped, g).Label("direction", "rx").Label("reason", "bus_off").Value(Math.Max(g.Device.Transport.DroppedWhileBusOff, Read(ref c.RxDroppedBusOff)));
            w.Sample(Dropped, g).Label("direction", "rx").Label("reason", "controller_stopped").Value(Read(ref c.RxDroppedWhileStopped));
            w.Sample(Dropped, g).Label("direction", "rx").Label("reason", "guest_buffer_too_small").Value(Read(ref c.RxDroppedBufferTooSmall));
            for (int i = 0; i < s_rxVerdicts.Length; i++)
                w.Sample(Dropped, g).Label("direction", "rx").Label("reason", s_rxReasons[i]).Value(c.RxDropped(s_rxVerdicts[i]));
        }
    }

    private static void WriteQueues(ExpositionWriter w, IReadOnlyList<GuestMetricsSource> guests)
    {
        const string Occupancy = Prefix + "queue_occupancy";
        w.Family(Occupancy, "gauge", "Entries the device holds per queue: tx = transmit requests taken off the guest's Txq and not yet "
            + "returned in its used ring; rx_backlog = received frames waiting for the guest to post receive buffers; "
            + "bus_inbox = frames waiting in the guest's virtual-bus inbox.");
        const string Capacity = Prefix + "queue_capacity";
        foreach (var g in guests)
        {
            w.Sample(Occupancy, g).Label("queue", "tx").Value(g.Device.TxRequestsInFlight);
            w.Sample(Occupancy, g).Label("queue", "rx_backlog").Value(g.Device.RxBacklogFrames);
            if (BusMember(g) is { } member) w.Sample(Occupancy, g).Label("queue", "bus_inbox").Value(member.PendingCount);
        }
        w.Family(Capacity, "gauge", "Most entries each queue of vhost_device_can_queue_occupancy holds: tx is the Txq size the driver set (0 before it started the queue).");
        foreach (var g in guests)
        {
            w.Sample(Capacity, g).Label("queue", "tx").Value(g.Device.TxRingSize);
            w.Sample(Capacity, g).Label("queue", "rx_backlog").Value(g.Device.RxBacklogCapacity);
            if (BusMember(g) is { } member) w.Sample(Capacity, g).Label("queue", "bus_inbox").Value(member.InboxCapacity);
        }
    }

    private static void WriteLatency(ExpositionWriter w, IReadOnlyList<GuestMetricsSource> guests)
    {
        const string Latency = Prefix + "tx_ack_latency_seconds";
        w.Family(Latency, "histogram", "Time from a transmit request being taken off the guest's Txq to its completion in the used ring, "
            + "whatever its result (with LATE_TX_ACK: until the bus confirmed the frame).");
        IReadOnlyList<double> bounds = LatencyHistogram.UpperBoundsSeconds;
        Span<long> counts = stackalloc long[bounds.Count + 1];
        foreach (var g in guests)
        {
            LatencyHistogram histogram = g.Device.TxAckLatency;
            histogram.CopyCounts(counts);
            long cumulative = 0;
            for (int i = 0; i < bounds.Count; i++)
            {
                cumulative += counts[i];
                w.Sample(Latency + "_bucket", g).Label("le", bounds[i]).Value(cumulative);
            }
            cumulative += counts[bounds.Count];
            w.Sample(Latency + "_bucket", g).Label("le", "+Inf").Value(cumulative);
            w.Sample(Latency + "_sum", g).Value(histogram.SumSeconds);
            w.Sample(Latency + "_count", g).Value(cumulative);
        }
    }

    private static void WriteBuses(ExpositionWriter w, IReadOnlyList<GuestMetricsSource> guests)
    {
        var members = guests.Where(g => BusMember(g) is not null).ToList();
        if (members.Count == 0) return;
        const string Overruns = Prefix + "bus_overruns_total";
        w.Family(Overruns, "counter", "Virtual bus: times the guest was marked overrun (it took no frames for the bus's overrun bound, so the bus stopped waiting for it).");
        foreach (var g in members) w.Sample(Overruns, g).Value(BusMember(g)!.Overruns);
        const string Overrun = Prefix + "bus_overrun";
        w.Family(Overrun, "gauge", "Virtual bus: 1 while the guest is overrun and loses the frames sent meanwhile, else 0.");
        foreach (var g in members) w.Sample(Overrun, g).Value(BusMember(g)!.IsOverrun);

        var buses = new List<VirtualCanBus>();
        foreach (var g in members)
        {
            VirtualCanBus bus = BusMember(g)!.Bus;
            if (!buses.Any(b => ReferenceEquals(b, bus))) buses.Add(bus);
        }
        const string Members = Prefix + "bus_members";
        w.Family(Members, "gauge", "Virtual bus: members joined now (one per guest device on it).");
        foreach (var bus in buses) w.Sample(Members).Label("bus", "vbus:" + bus.Name).Value(bus.MemberCount);

        // Only a bus that models bit timing has a load; none is invented for one that does not.
        var loaded = buses.Where(b => b.BusLoad is not null).ToList();
        if (loaded.Count == 0) return;
        const string Load = Prefix + "bus_load_ratio";
        w.Family(Load, "gauge", "Virtual bus: share of time the bus carried frames, 0 to 1.");
        foreach (var bus in loaded) w.Sample(Load).Label("bus", "vbus:" + bus.Name).Value(bus.BusLoad!.Value);
    }

    private static long Read(ref long counter) => Volatile.Read(ref counter);

    /// <summary><c>FdNotNegotiated</c> → <c>fd_not_negotiated</c>: label values in Prometheus' style.</summary>
    internal static string SnakeCase(string name)
    {
        var text = new StringBuilder(name.Length + 8);
        for (int i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0) text.Append('_');
            text.Append(char.ToLowerInvariant(name[i]));
        }
        return text.ToString();
    }

    private static VirtualCanBusMember? BusMember(GuestMetricsSource g) => g.Device.Transport.AsBusMember();
}
