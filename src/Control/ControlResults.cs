using System.Text.Json;
using System.Text.Json.Serialization;

namespace VhostDeviceCan.Control;

/// <summary>The <c>status</c> result: the daemon, every guest, every virtual bus, every bridge.</summary>
public sealed record StatusResult(string Version, int Protocol, double UptimeSeconds, IReadOnlyList<GuestStatus> Guests,
    IReadOnlyList<BusStatus> Buses, IReadOnlyList<BridgeStatus>? Bridges = null);

/// <summary>A bridge (--bridge): <see cref="Name"/> the option as the daemon understood it, its
/// counters by name (frames_in, datagrams_out, dropped_datagrams_foreign, ...; each kind has its own).</summary>
public sealed record BridgeStatus(string Name, string Bus, string Kind, string Peer, bool PeerUp, IReadOnlyDictionary<string, long> Counters);

/// <summary>One guest (socket): <see cref="Controller"/> is <c>started</c>, <c>stopped</c> or
/// <c>bus-off</c>; filters and rate in --tx-filter / --tx-rate syntax, null when there is none.</summary>
public sealed record GuestStatus(int Index, string Socket, string Device, bool Connected, FrontendStatus? Frontend,
    IReadOnlyList<string> Features, string Controller, string? TxFilter, string? RxFilter, string? TxRate, GuestCounters Counters,
    string BusState = "active", GuestFaults? Faults = null);

/// <summary>The attached front-end (VMM) as SO_PEERCRED saw it when it connected.</summary>
public sealed record FrontendStatus(int Pid, string Command, uint Uid, uint Gid);

/// <summary>The device's counters (CanDeviceCounters), named as in the SIGUSR2 report.</summary>
public sealed record GuestCounters(long TxFrames, long TxRejected, long TxNotOkStopped, long TxNotOkBusDown, long TxFiltered,
    long TxThrottled, long RxFrames, long RxFiltered, long RxDroppedBacklogFull, long RxDroppedOnBus, long RxDroppedBusOff,
    long RxDroppedWhileStopped, long RxDroppedUnsupported, long RxDroppedBufferTooSmall, long BusOffEvents);

/// <summary>A virtual bus: its guests by index, and members that are no guest (host nodes, such
/// as an injection in progress).</summary>
public sealed record BusStatus(string Name, int Members, IReadOnlyList<int> Guests, int HostNodes, double OverrunAfterMs);

/// <summary>The <c>set-filter</c> and <c>set-rate</c> result: the guest's settings after the change.</summary>
public sealed record GuestSettings(int Guest, string? TxFilter, string? RxFilter, string? TxRate);

/// <summary>The <c>inject</c> result: how many of the frames reached the target (<see cref="Delivered"/>).</summary>
public sealed record InjectResult(string Target, int Frames, int Delivered, string? Note);

/// <summary>One guest's fault layer: the rules in force (--fault syntax described, "none" when
/// there are none), the seed of their random choices, and what it has injected so far.</summary>
public sealed record GuestFaults(int Guest, string Rules, ulong? Seed, FaultCountsResult Counts);

/// <summary>The fault layer's counters since the daemon started (FaultCounts).</summary>
public sealed record FaultCountsResult(long TxRefused, long TxDropped, long TxBitFlipped, long TxDuplicated, long TxDelayed,
    long RxDropped, long RxBitFlipped, long RxDuplicated, long RxDelayed, long BusOffs, long Recoveries, long LostWhileBusOff);

/// <summary>The <c>faults</c> result.</summary>
public sealed record FaultList(IReadOnlyList<GuestFaults> Guests);

/// <summary>A capture: <see cref="Id"/> null for one started by --capture; <see cref="Path"/> the file being written,
/// or null for a stream, whose reader <see cref="StreamTo"/> names (a control client).</summary>
public sealed record CaptureInfo(int? Id, string Target, string? Path, string Format, bool Running, long Recorded, long Dropped,
    string? StreamTo = null);

/// <summary>The <c>captures</c> result.</summary>
public sealed record CaptureList(IReadOnlyList<CaptureInfo> Captures);

/// <summary>The <c>capture-stop</c> result: frames written, frames lost because the writer fell
/// behind, files written (more than one after rotation), and the error that ended it early, if any.</summary>
public sealed record CaptureStopped(int Id, string Target, string? Path, long Recorded, long Dropped, int Files, string? Error);

/// <summary>A replay of a candump log: frames sent so far (all passes), frames a pass holds, passes
/// completed and asked for (null: for ever), the speed (null in fast mode), the time from its first
/// frame to its last sent, frames sent more than 1 ms after their due time and the largest
/// lateness (null in fast mode), and why it ended (null while it runs).</summary>
public sealed record ReplayInfo(int Id, string Target, bool Running, long Frames, long FramesPerPass, int PassesDone, int? Passes,
    double? Speed, string? Interface, double DurationSeconds, long LateFrames, double? MaxLatenessMs, string? Result);

/// <summary>The <c>replays</c> result.</summary>
public sealed record ReplayList(IReadOnlyList<ReplayInfo> Replays);

/// <summary>The <c>metrics</c> result: Prometheus' text exposition, as the --metrics endpoint serves it.</summary>
public sealed record MetricsResult(string ContentType, string Text);

/// <summary>The <c>commands</c> result.</summary>
public sealed record CommandList(int Protocol, IReadOnlyList<CommandInfo> Commands);
public sealed record CommandInfo(string Name, string Summary);

/// <summary>
/// Source-generated (de)serialization for every result type: no reflection, NativeAOT and
/// trimming safe. A command added later lists its result type here.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(StatusResult))]
[JsonSerializable(typeof(GuestSettings))]
[JsonSerializable(typeof(InjectResult))]
[JsonSerializable(typeof(CommandList))]
[JsonSerializable(typeof(GuestFaults))]
[JsonSerializable(typeof(FaultList))]
[JsonSerializable(typeof(CaptureInfo))]
[JsonSerializable(typeof(CaptureList))]
[JsonSerializable(typeof(CaptureStopped))]
[JsonSerializable(typeof(ReplayInfo))]
[JsonSerializable(typeof(ReplayList))]
[JsonSerializable(typeof(MetricsResult))]
public sealed partial class ControlJson : JsonSerializerContext
{
    /// <summary>A result as the element a reply carries.</summary>
    public static JsonElement ToElement<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) =>
        JsonSerializer.SerializeToElement(value, type);
}
