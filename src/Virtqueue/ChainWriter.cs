namespace VhostDeviceCan.Virtqueue;

/// <summary>
/// Writes the device-writable part of the chain popped last, scattering across descriptors and across
/// GPA-contiguous regions; it never touches a readable buffer (virtqueue.md §2). Obtained from
/// <see cref="SplitQueue.GetWriter"/>; valid only until the queue's next <see cref="SplitQueue.TryPop"/>,
/// <see cref="SplitQueue.TryRemap"/> or <see cref="SplitQueue.Reset"/>.
/// </summary>
public ref struct ChainWriter
{
    private readonly GuestMemory _memory;
    private readonly ReadOnlySpan<BufferSegment> _segments;
    private int _index;
    private uint _offset;

    internal ChainWriter(GuestMemory memory, ReadOnlySpan<BufferSegment> segments, uint length)
    {
        _memory = memory;
        _segments = segments;
        Remaining = length;
    }

    /// <summary>Writable bytes not written or skipped yet.</summary>
    public uint Remaining { get; private set; }

    /// <summary>
    /// Bytes written or skipped so far: the used length to report with
    /// <see cref="SplitQueue.AddUsed"/> when everything up to here holds data (§2: never overcount).
    /// </summary>
    public uint Written { get; private set; }

    /// <summary>Copies up to <c>source.Length</c> bytes; returns how many fit.</summary>
    public int Write(scoped ReadOnlySpan<byte> source)
    {
        int total = 0;
        while (!source.IsEmpty && _index < _segments.Length)
        {
            var segment = _segments[_index];
            int n = (int)Math.Min(segment.Length - _offset, (uint)source.Length);
            // Proven mapped at validation; see ChainReader.Read.
            if (!_memory.TryWrite(segment.Address + _offset, source[..n])) break;
            source = source[n..];
            total += n;
            Advance((uint)n);
        }
        return total;
    }

    /// <summary>Leaves up to <paramref name="count"/> bytes unchanged; returns how many were skipped.</summary>
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
        Written += n;
        _offset += n;
        if (_offset == _segments[_index].Length)
        {
            _index++;
            _offset = 0;
        }
    }
}
