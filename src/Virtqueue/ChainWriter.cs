namespace VhostDeviceCan.Virtqueue;

/// <summary>
/// Writes the device-writable part of the chain popped last, scattering across descriptors and across
/// GPA-contiguous regions; it never touches a readable buffer (docs/spec/virtqueue.md §2). Obtained from
/// <see cref="SplitQueue.GetWriter"/>; valid only until the queue's next <see cref="SplitQueue.TryPop"/>,
/// <see cref="SplitQueue.TryRemap"/> or <see cref="SplitQueue.Reset"/>.
/// </summary>
public ref struct ChainWriter
{
    private readonly GuestMemory _memory;
    private SegmentCursor _cursor;
    private readonly uint _length;

    internal ChainWriter(GuestMemory memory, ReadOnlySpan<BufferSegment> segments, uint length)
    {
        _memory = memory;
        _cursor = new SegmentCursor(segments, length);
        _length = length;
    }

    /// <summary>Writable bytes not written or skipped yet.</summary>
    public readonly uint Remaining => _cursor.Remaining;

    /// <summary>
    /// Bytes written or skipped so far: the used length to report with
    /// <see cref="SplitQueue.AddUsed"/> when everything up to here holds data (docs/spec/virtqueue.md §2: never overcount).
    /// </summary>
    public readonly uint Written => _length - _cursor.Remaining;

    /// <summary>Copies up to <c>source.Length</c> bytes; returns how many fit.</summary>
    public int Write(scoped ReadOnlySpan<byte> source)
    {
        int total = 0;
        while (_cursor.TryGetSpan((uint)source.Length, out ulong address, out uint n))
        {
            // Proven mapped at validation; see ChainReader.Read.
            if (!_memory.TryWrite(address, source[..(int)n])) break;
            source = source[(int)n..];
            total += (int)n;
            _cursor.Advance(n);
        }
        return total;
    }

    /// <summary>Leaves up to <paramref name="count"/> bytes unchanged; returns how many were skipped.</summary>
    public uint Skip(uint count) => _cursor.Skip(count);
}
