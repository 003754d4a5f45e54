namespace VhostDeviceCan.Virtqueue;

/// <summary>Outcome of <see cref="SplitQueue.TryPop"/>.</summary>
public enum PopResult
{
    /// <summary>No available buffer (or the queue is not configured yet).</summary>
    Empty,
    /// <summary>A validated chain was taken off the available ring.</summary>
    Chain,
    /// <summary>The driver broke the ring rules (docs/spec/virtqueue.md §7); the queue stays broken until reset.</summary>
    Broken,
}
