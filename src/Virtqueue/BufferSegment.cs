namespace VhostDeviceCan.Virtqueue;

/// <summary>One non-empty guest buffer of a validated chain: a GPA range proven to be mapped.</summary>
internal readonly record struct BufferSegment(ulong Address, uint Length);
