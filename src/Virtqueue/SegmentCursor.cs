namespace VhostDeviceCan.Virtqueue;

/// <summary>
/// A position inside one direction of a validated chain (its readable or its writable buffers):
/// the walk that <see cref="ChainReader"/> and <see cref="ChainWriter"/> share.
/// </summary>
internal ref struct SegmentCursor(ReadOnlySpan<BufferSegment> segments, uint length)
{
    private readonly ReadOnlySpan<BufferSegment> _segments = segments;
    private int _index;
    private uint _offset;

    /// <summary>Bytes not consumed yet.</summary>
    public uint Remaining { get; private set; } = length;

    /// <summary>The guest address at the cursor and how many bytes follow it in the same buffer,
    /// at most <paramref name="limit"/>; false at the end of the chain.</summary>
    public readonly bool TryGetSpan(uint limit, out ulong address, out uint length)
    {
        address = 0;
        length = 0;
        if (limit == 0 || _index >= _segments.Length) return false;
        BufferSegment segment = _segments[_index];
        address = segment.Address + _offset;
        length = Math.Min(segment.Length - _offset, limit);
        return true;
    }

    /// <summary>Moves past <paramref name="count"/> bytes, at most to the end of the current buffer.</summary>
    public void Advance(uint count)
    {
        Remaining -= count;
        _offset += count;
        if (_offset == _segments[_index].Length)
        {
            _index++;
            _offset = 0;
        }
    }

    /// <summary>Moves past up to <paramref name="count"/> bytes; returns how many.</summary>
    public uint Skip(uint count)
    {
        uint skipped = 0;
        while (TryGetSpan(count, out _, out uint n))
        {
            // Zero-length buffers are passed over, never taken as the end of the chain (docs/spec/virtqueue.md §7.8).
            count -= n;
            skipped += n;
            Advance(n);
        }
        return skipped;
    }
}
