using VhostDeviceCan.Can;

namespace VhostDeviceCan.Capture;

/// <summary>One captured frame: a struct copied into a ring slot, so recording allocates nothing.</summary>
public struct CaptureRecord
{
    /// <summary><see cref="System.Diagnostics.Stopwatch"/> ticks (CLOCK_MONOTONIC), converted to wall time by the writer.</summary>
    public long Timestamp;
    public CaptureDirection Direction;
    public CanFrame Frame;
}
