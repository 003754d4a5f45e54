using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Can;
using VhostDeviceCan.Capture;
using VhostDeviceCan.Device.Metrics;

namespace VhostDeviceCan.Control;

/// <summary>What every command handler may reach: the daemon's guests, its virtual buses, its
/// version and start time, and the log.</summary>
public sealed class ControlContext(IReadOnlyList<ControlGuest> guests, string version, ILogger logger, CaptureHub? captures = null,
    IReadOnlyList<IBridgeReport>? bridges = null, Func<byte[]>? metrics = null)
{
    private readonly long _started = Stopwatch.GetTimestamp();

    public IReadOnlyList<ControlGuest> Guests { get; } = guests;
    public string Version { get; } = version;
    public ILogger Logger { get; } = logger;

    /// <summary>The daemon's captures, null where there is no capture.</summary>
    public CaptureHub? Captures { get; } = captures;
    /// <summary>The replays of candump logs running (the <c>replay</c> command).</summary>
    public Replay.ReplayHub Replays { get; } = new();

    /// <summary>The daemon's bridges (--bridge), in the order given.</summary>
    public IReadOnlyList<IBridgeReport> Bridges { get; } = bridges ?? [];

    /// <summary>Renders the daemon's metrics as the --metrics endpoint serves them (Prometheus text,
    /// UTF-8); null where there are none.</summary>
    public Func<byte[]>? Metrics { get; } = metrics;

    public TimeSpan Uptime => Stopwatch.GetElapsedTime(_started);

    /// <summary>Every virtual bus a guest is on, in the order of the first guest on each.</summary>
    public IReadOnlyList<VirtualCanBus> Buses =>
        Guests.Select(g => g.BusMember?.Bus).OfType<VirtualCanBus>().Distinct().ToList();

    /// <summary>A guest by index ("0", 0) or by its socket's path; otherwise <see cref="ControlErrors.NoSuchGuest"/>.</summary>
    public ControlGuest FindGuest(string name)
    {
        if (int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out int index))
        {
            if (index < Guests.Count) return Guests[index];
            throw new ControlException(ControlErrors.NoSuchGuest, $"no guest {index}: this daemon serves guests 0 to {Guests.Count - 1}");
        }
        foreach (ControlGuest guest in Guests)
            if (guest.Socket == name || (name.StartsWith('/') && guest.Socket == Path.GetFullPath(name))) return guest;
        throw new ControlException(ControlErrors.NoSuchGuest, $"no guest '{name}': name one by index (0 to {Guests.Count - 1}) or by its socket's path");
    }

    /// <summary>A virtual bus a guest of this daemon is on, by NAME or vbus:NAME; otherwise <see cref="ControlErrors.NoSuchBus"/>.</summary>
    public VirtualCanBus FindBus(string name)
    {
        string bare = name.StartsWith("vbus:", StringComparison.Ordinal) ? name[5..] : name;
        foreach (VirtualCanBus bus in Buses)
            if (bus.Name == bare) return bus;
        string known = string.Join(", ", Buses.Select(b => "vbus:" + b.Name));
        throw new ControlException(ControlErrors.NoSuchBus, $"no virtual bus '{bare}' in this daemon" + (known.Length > 0 ? $" (it has {known})" : " (it has none)"));
    }
}
