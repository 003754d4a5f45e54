namespace VhostDeviceCan.Device.Metrics;

/// <summary>
/// What every kind of bridge (a virtual bus joined to something outside the daemon) tells the
/// metrics endpoint and the control <c>status</c>: its name, its peer's state and its counters.
/// Read from any thread while the bridge runs; values may be a moment old.
/// </summary>
public interface IBridgeReport
{
    /// <summary>The <c>--bridge</c> option as the daemon understood it: the <c>bridge</c> label.</summary>
    string Name { get; }

    /// <summary><c>vbus:NAME</c>.</summary>
    string Bus { get; }

    /// <summary>The KIND of <c>vbus:NAME=KIND:ARGUMENTS</c> (cannelloni-udp, ...).</summary>
    string Kind { get; }

    /// <summary>Who is on the other side, as an address or an interface.</summary>
    string Peer { get; }

    /// <summary>Whether the other side is there now: heard from lately, connected, or up.</summary>
    bool PeerUp { get; }

    /// <summary>Adds the bridge's counters to <paramref name="counters"/>; every call adds the
    /// same names and labels in the same order.</summary>
    void ReadCounters(List<BridgeCounter> counters);
}

/// <summary>
/// One counter of a bridge: <paramref name="Family"/> is its metric name after
/// <c>vhost_device_can_bridge_</c> (ending in <c>_total</c>: counters only), with at most one
/// label of its own besides <c>bridge</c> (<c>direction</c>, <c>reason</c>). Bridges of
/// different kinds reporting one family give it the same <paramref name="Help"/>.
/// </summary>
public readonly record struct BridgeCounter(string Family, string Help, string? LabelKey, string? LabelValue, long Value)
{
    /// <summary>The counter's name in a status reply: the family without <c>_total</c>, then the
    /// label's value (<c>frames_in</c>, <c>dropped_datagrams_foreign</c>).</summary>
    public string StatusKey =>
        (Family.EndsWith("_total", StringComparison.Ordinal) ? Family[..^6] : Family) + (LabelValue is null ? "" : "_" + LabelValue);
}
