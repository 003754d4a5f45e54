namespace VhostDeviceCan.Virtqueue;

/// <summary>Sizes, alignments and field offsets of the three split-ring areas (docs/spec/virtqueue.md §1).</summary>
public static class RingLayout
{
    /// <summary>The largest queue size a split ring allows (docs/spec/virtqueue.md §1).</summary>
    public const int MaxQueueSize = 32768;

    public const ulong DescriptorTableAlignment = 16;
    public const ulong AvailableRingAlignment = 2;
    public const ulong UsedRingAlignment = 4;

    /// <summary><c>avail.flags</c> bit 0: the driver does not want used-buffer notifications (docs/spec/virtqueue.md §4).</summary>
    public const ushort AvailFlagNoInterrupt = 1;
    /// <summary><c>used.flags</c> bit 0: the device does not want kicks (docs/spec/virtqueue.md §4).</summary>
    public const ushort UsedFlagNoNotify = 1;

    public const int UsedElementSize = 8;

    public static ulong DescriptorTableSize(uint size) => 16UL * size;
    public static ulong AvailableRingSize(uint size) => 6 + 2UL * size;
    public static ulong UsedRingSize(uint size) => 6 + 8UL * size;

    public const int AvailFlagsOffset = 0;
    public const int AvailIdxOffset = 2;
    public static int AvailRingOffset(uint slot) => 4 + 2 * (int)slot;
    /// <summary><c>used_event</c> sits right after the available ring (docs/spec/virtqueue.md §1).</summary>
    public static int UsedEventOffset(uint size) => 4 + 2 * (int)size;

    public const int UsedFlagsOffset = 0;
    public const int UsedIdxOffset = 2;
    public static int UsedRingOffset(uint slot) => 4 + UsedElementSize * (int)slot;
    /// <summary><c>avail_event</c> sits right after the used ring (docs/spec/virtqueue.md §1).</summary>
    public static int AvailEventOffset(uint size) => 4 + UsedElementSize * (int)size;

    /// <summary>A valid split-ring size: a power of two from 1 to <paramref name="maxSize"/> (≤ 32768).</summary>
    public static bool IsValidSize(uint size, uint maxSize) =>
        size != 0 && size <= maxSize && size <= MaxQueueSize && (size & (size - 1)) == 0;

    /// <summary>
    /// The event-index rule (docs/spec/virtqueue.md §4): true when the entry at <paramref name="eventIdx"/> is
    /// among those that moved the index from <paramref name="oldIdx"/> to <paramref name="newIdx"/>.
    /// All arithmetic wraps at 2^16 (docs/spec/virtqueue.md §6).
    /// </summary>
    public static bool NeedEvent(ushort eventIdx, ushort newIdx, ushort oldIdx) =>
        (ushort)(newIdx - eventIdx - 1) < (ushort)(newIdx - oldIdx);
}
