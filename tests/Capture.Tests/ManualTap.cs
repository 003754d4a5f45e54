using System.Diagnostics;
using VhostDeviceCan.Can;
using VhostDeviceCan.Capture;

namespace VhostDeviceCan.Capture.Tests;

/// <summary>A capture point the test drives as a device's event loop would: one batch at a time,
/// into every attached ring.</summary>
internal sealed class ManualTap : ICaptureTap
{
    private readonly Lock _lock = new();
    private volatile CaptureRing[] _rings = [];

    public bool Attached => _rings.Length > 0;

    public void AttachCapture(CaptureRing ring)
    {
        lock (_lock) _rings = [.. _rings, ring];
    }

    public void DetachCapture(CaptureRing ring)
    {
        lock (_lock) _rings = [.. _rings.Where(r => r != ring)];
    }

    public void Pass(CaptureDirection direction, params CanFrame[] frames)
    {
        foreach (CaptureRing ring in _rings) ring.Write(frames, direction, Stopwatch.GetTimestamp());
    }
}
