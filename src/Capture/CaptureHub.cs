using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace VhostDeviceCan.Capture;

/// <summary>
/// The daemon's capture points (one per guest's device) and the captures running on them.
/// Captures start and stop at any time, from any thread, several at once, on overlapping
/// targets; a device records into a capture's ring only while it is attached.
/// </summary>
public sealed class CaptureHub(ILogger? logger = null) : IDisposable
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private readonly List<CapturePoint> _points = [];
    private readonly List<CaptureSession> _sessions = [];
    private readonly Lock _lock = new();

    public IReadOnlyList<CapturePoint> Points
    {
        get { lock (_lock) return [.. _points]; }
    }

    /// <summary>Captures started and not yet stopped (some may have ended by themselves: see
    /// <see cref="CaptureSession.IsRunning"/>).</summary>
    public IReadOnlyList<CaptureSession> Sessions
    {
        get { lock (_lock) return [.. _sessions]; }
    }

    public void Add(CapturePoint point)
    {
        lock (_lock) _points.Add(point);
    }

    /// <summary>
    /// The points <paramref name="target"/> names: <c>all</c>, a guest (socket) index such as
    /// <c>0</c>, or a bus as --can-devices names it (<c>vbus:default</c>, <c>vcan0</c>): every
    /// guest on it. Null and a one-line reason when it names none.
    /// </summary>
    public static IReadOnlyList<CapturePoint>? Select(string target, IReadOnlyList<CapturePoint> points, out string? error)
    {
        error = null;
        List<CapturePoint> selected;
        if (target == "all")
            selected = [.. points];
        else if (target.Length > 0 && target.All(char.IsAsciiDigit))
            selected = int.TryParse(target, NumberStyles.None, CultureInfo.InvariantCulture, out int index)
                ? [.. points.Where(p => p.GuestIndex == index)] : [];
        else
            selected = [.. points.Where(p => p.Bus == target)];
        if (selected.Count > 0) return selected;
        error = target.All(char.IsAsciiDigit) && target.Length > 0
            ? $"no guest {target}: guests are numbered 0 to {points.Count - 1}"
            : $"no guest is on '{target}' (the targets are all, a guest index, or a bus: {string.Join(", ", points.Select(p => p.Bus).Distinct())})";
        return null;
    }

    /// <summary>
    /// Starts capturing <paramref name="target"/> (see <see cref="Select"/>) in
    /// <paramref name="format"/> to <paramref name="destination"/>. Throws
    /// <see cref="ArgumentException"/> for a target that names no guest and
    /// <see cref="IOException"/> when the file cannot be written; the header is written before
    /// this returns, the frames from then on by the capture's own thread.
    /// </summary>
    public CaptureSession Start(string target, CaptureFormat format, CaptureDestination destination, int ringCapacity = CaptureRing.DefaultCapacity)
    {
        IReadOnlyList<CapturePoint> points = Select(target, Points, out string? error) ?? throw new ArgumentException(error, nameof(target));
        var session = new CaptureSession(target, points, format, destination, _logger, ringCapacity);
        lock (_lock) _sessions.Add(session);
        _logger.LogInformation("capturing {Target} ({Guests}) to {Destination} as {Format}",
            target, string.Join(", ", points.Select(p => p.Name)), destination, format == CaptureFormat.Pcapng ? "pcapng" : "candump log");
        return session;
    }

    /// <summary>Stops <paramref name="session"/> (see <see cref="CaptureSession.Stop"/>) and forgets it.</summary>
    public CaptureSummary Stop(CaptureSession session)
    {
        CaptureSummary summary = session.Stop();
        lock (_lock) _sessions.Remove(session);
        return summary;
    }

    /// <summary>Stops every capture: after the devices have stopped, so their last frames are written.</summary>
    public void StopAll()
    {
        foreach (CaptureSession session in Sessions) Stop(session);
    }

    public void Dispose() => StopAll();
}
