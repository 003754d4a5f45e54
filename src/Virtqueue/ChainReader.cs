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
    private readonly ReadOnlySpan<BufferSegment> _segments;
    private int _index;
    private uint _offset;

    internal ChainReader(GuestMemory memory, ReadOnlySpan<BufferSegment> segments, uint length)
    {
        _memory = memory;
        _segments = segments;
        Remaining = length;
    }

    /// <summary>Bytes not read or skipped yet.</summary>
    public uint Remaining { get; private set; }

    /// <summary>Copies up to <c>destination.Length</c> bytes; returns how many (0 at the end).</summary>
    public int Read(scoped Span<byte> destination)
    {
        int total = 0;
        while (!destination.IsEmpty && _index < _segments.Length)
        {
            var segment = _segments[_index];
            int n = (int)Math.Min(segment.Length - _offset, (uint)destination.Length);
            // The range was proven mapped when the chain was validated and GuestMemory never changes,
            // so this cannot fail; stop rather than return unread bytes as data if it ever did.
            if (!_memory.TryRead(segment.Address + _offset, destination[..n])) break;
            destination = destination[n..];
            total += n;
            Advance((uint)n);
        }
        return total;
    }

    /// <summary>Skips up to <paramref name="count"/> bytes; returns how many were skipped.</summary>
    public uint Skip(uint count)
    {
        uint skipped = 0;
        while (count != 0 && _index < _segments.Length)
        {
            uint n = Math.Min(_segments[_index].Length - _offset, count);
            count -= n;
            skipped += n;
            Advance(n);
        }
        return skipped;
    }

    private void Advance(uint n)
    {
        Remaining -= n;
        _offset += n;
        if (_offset == _segments[_index].Length)
        {
            _index++;
            _offset = 0;
        }
    }
}
