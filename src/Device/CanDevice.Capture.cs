using System.Diagnostics;
using VhostDeviceCan.Can;
using VhostDeviceCan.Capture;

namespace VhostDeviceCan.Device;

public sealed partial class CanDevice : ICaptureTap
{
    private readonly Lock _captureLock = new();
    // Null while no capture watches this device: the event loop then pays one branch per batch.
    // Replaced whole (never changed in place) by attach and detach, from any thread.
    private volatile CaptureRing[]? _captures;

    public void AttachCapture(CaptureRing ring)
    {
        lock (_captureLock) _captures = [.. _captures ?? [], ring];
    }

    public void DetachCapture(CaptureRing ring)
    {
        lock (_captureLock)
        {
            CaptureRing[] rest = [.. (_captures ?? []).Where(r => r != ring)];
            _captures = rest.Length == 0 ? null : rest;
        }
    }

    /// <summary>Copies a batch into every attached capture's ring; they never make the loop wait.</summary>
    private static void Record(CaptureRing[] captures, ReadOnlySpan<CanFrame> frames, CaptureDirection direction)
    {
        if (frames.IsEmpty) return;
        long now = Stopwatch.GetTimestamp();
        foreach (CaptureRing ring in captures) ring.Write(frames, direction, now);
    }
}
