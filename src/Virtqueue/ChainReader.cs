namespace VhostDeviceCan.Virtqueue;

/// <summary>
/// Reads the device-readable part of the chain popped last, gathering across descriptors and across
/// GPA-contiguous regions. Obtained from <see cref="SplitQueue.GetReader"/>; valid only until the
/// queue's next <see cref="SplitQueue.TryPop"/>, <see cref="SplitQueue.TryRemap"/> or
/// <see cref="SplitQueue.Reset"/>, because it walks the queue's own copy of the chain.
/// </summary>
public ref struct ChainReader
{
    private readonly GuestMemory _memory;
    private SegmentCursor _cursor;

    internal ChainReader(GuestMemory memory, ReadOnlySpan<BufferSegment> segments, uint length)
    {
        _memory = memory;
        _cursor = new SegmentCursor(segments, length);
    }

    /// <summary>Bytes not read or skipped yet.</summary>
    public readonly uint Remaining => _cursor.Remaining;

    /// <summary>Copies up to <c>destination.Length</c> bytes; returns how many (0 at the end).</summary>
    public int Read(scoped Span<byte> destination)
    {
        int total = 0;
        while (_cursor.TryGetSpan((uint)destination.Length, out ulong address, out uint n))
        {
            // The range was proven mapped when the chain was validated and GuestMemory never changes,
            // so this cannot fail; stop rather than return unread bytes as data if it ever did.
            if (!_memory.TryRead(address, destination[..(int)n])) break;
            destination = destination[(int)n..];
            total += (int)n;
            _cursor.Advance(n);
        }
        return total;
    }

    /// <summary>Skips up to <paramref name="count"/> bytes; returns how many were skipped.</summary>
    public uint Skip(uint count) => _cursor.Skip(count);
}
