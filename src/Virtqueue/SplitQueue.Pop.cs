namespace VhostDeviceCan.Virtqueue;

public sealed partial class SplitQueue
{
    /// <summary>
    /// Takes the next available chain and validates all of it (docs/spec/virtqueue.md §3.1, docs/spec/virtqueue.md §7) before
    /// returning it. Every descriptor is copied out of guest memory exactly once, so the guest cannot
    /// change what was validated. A rule violation breaks the queue: <see cref="PopResult.Broken"/>
    /// now and on every call until <see cref="Reset"/>.
    /// </summary>
    public PopResult TryPop(out DescriptorChain chain)
    {
        chain = default;
        _lastChainValid = false;
        if (BrokenReason is not null) return PopResult.Broken;
        if (!IsReady) return PopResult.Empty;

        // docs/spec/virtqueue.md §5.1: acquire, so the ring entry and descriptors read below are at least as new as this idx.
        ushort availableIdx = RingMemory.LoadAcquire16(_available + RingLayout.AvailIdxOffset);
        ushort pending = (ushort)(availableIdx - _nextAvailable);
        if (pending == 0) return PopResult.Empty;
        if (pending > _size)
            return Fail($"avail.idx {availableIdx} is {pending} entries ahead of last_avail {_nextAvailable}, more than the queue size {_size}.");

        uint slot = _nextAvailable & (uint)(_size - 1);
        ushort head = RingMemory.Load16(_available + RingLayout.AvailRingOffset(slot));
        if (head >= _size)
            return Fail($"Head descriptor index {head} in avail.ring[{slot}] is not below the queue size {_size}.");

        if (!TryWalk(head)) return PopResult.Broken;

        _nextAvailable++;
        _popSerial++;
        _lastChainValid = true;
        ulong firstWritable = _readableCount < _segmentCount ? _segments[_readableCount].Address : 0;
        chain = new DescriptorChain(head, _readableLength, _writableLength, firstWritable, _popSerial);
        return PopResult.Chain;
    }

    /// <summary>Reader over the readable buffers of <paramref name="chain"/>, which must be the chain popped last.</summary>
    /// <exception cref="InvalidOperationException">The chain is not the one popped last (the queue's copy is gone).</exception>
    public ChainReader GetReader(in DescriptorChain chain)
    {
        ThrowIfStale(chain);
        return new ChainReader(_memory, _segments.AsSpan(0, _readableCount), _readableLength);
    }

    /// <summary>Writer over the writable buffers of <paramref name="chain"/>, which must be the chain popped last.</summary>
    /// <exception cref="InvalidOperationException">The chain is not the one popped last (the queue's copy is gone).</exception>
    public ChainWriter GetWriter(in DescriptorChain chain)
    {
        ThrowIfStale(chain);
        return new ChainWriter(_memory, _segments.AsSpan(_readableCount, _segmentCount - _readableCount), _writableLength);
    }

    /// <summary>The writable buffers of the chain popped last, for tests that check where the device wrote.</summary>
    internal ReadOnlySpan<BufferSegment> WritableSegments =>
        _lastChainValid ? _segments.AsSpan(_readableCount, _segmentCount - _readableCount) : default;

    /// <summary>
    /// Walks the chain at <paramref name="head"/>, zero or more direct descriptors optionally ending in
    /// one indirect descriptor (docs/spec/virtqueue.md §2), and records its non-empty buffers in <see cref="_segments"/>.
    /// </summary>
    private bool TryWalk(ushort head)
    {
        _segmentCount = _readableCount = 0;
        ulong readable = 0, writable = 0;
        bool inIndirect = false, sawWritable = false;
        int tableSize = _size;
        int count = 0;
        uint index = head;

        while (true)
        {
            // docs/spec/virtqueue.md §7.3: a chain visits each table entry at most once, so one more than the table size is a loop.
            if (++count > tableSize)
                return Failed($"Looped descriptor chain: more than {tableSize} descriptors starting at head {head}.");

            // docs/spec/virtqueue.md §5.5: one copy per descriptor; everything below looks only at the copy.
            Descriptor d = inIndirect
                ? Descriptor.Read(_indirectCopy.AsSpan((int)index * Descriptor.Size, Descriptor.Size))
                : RingMemory.LoadDescriptor(_descriptors + (nint)(index * Descriptor.Size));

            if (d.IsIndirect)
            {
                if (!TryLoadIndirectTable(in d, inIndirect, index, out tableSize)) return false;
                inIndirect = true;
                count = 0;
                index = 0;
                continue;
            }

            if (d.IsWritable)
            {
                sawWritable = true;
                writable += d.Length;
            }
            else
            {
                // docs/spec/virtqueue.md §7.6 (QEMU, libvhost-user): all readable descriptors come before any writable one.
                if (sawWritable)
                    return Failed($"Incorrect order for descriptors: readable descriptor {index}{Where(inIndirect)} follows a writable one.");
                readable += d.Length;
            }
            // docs/spec/virtqueue.md §7.3: the spec forbids chains over 2^32 bytes; both sums are under 2^33, so no wrap here.
            if (readable + writable > uint.MaxValue)
                return Failed($"Descriptor chain at head {head} is longer than 2^32 - 1 bytes.");
            // docs/spec/virtqueue.md §7.8: zero-length descriptors are empty buffers, kept out of the segment list; any
            // other buffer must be entirely mapped (possibly across GPA-contiguous regions).
            if (d.Length != 0)
            {
                if (!_memory.IsValidRange(d.Address, d.Length))
                    return Failed($"Descriptor {index}{Where(inIndirect)} buffer at GPA 0x{d.Address:x} (0x{d.Length:x} bytes) is outside guest memory.");
                _segments[_segmentCount++] = new BufferSegment(d.Address, d.Length);
                if (!d.IsWritable) _readableCount = _segmentCount;
            }

            if (!d.HasNext) break;
            if (d.Next >= tableSize)
                return Failed($"Descriptor {index}{Where(inIndirect)} has next {d.Next}, not below the table size {tableSize}.");
            index = d.Next;
        }

        _readableLength = (uint)readable;
        _writableLength = (uint)writable;
        return true;
    }

    /// <summary>
    /// Checks an INDIRECT descriptor against docs/spec/virtqueue.md §7.5 and copies its table out of guest memory, so the
    /// entries are validated and used from our copy only.
    /// </summary>
    private bool TryLoadIndirectTable(in Descriptor d, bool inIndirect, uint index, out int tableSize)
    {
        tableSize = 0;
        if (inIndirect)
            return Failed($"Nested indirect descriptor: entry {index} of an indirect table has INDIRECT set.");
        if (!IndirectDescriptors)
            return Failed($"Descriptor {index} has INDIRECT set but VIRTIO_F_INDIRECT_DESC was not negotiated.");
        if (d.HasNext)
            return Failed($"Descriptor {index} has both INDIRECT and NEXT set.");
        if (d.Length == 0 || d.Length % Descriptor.Size != 0)
            return Failed($"Invalid size for indirect buffer table: descriptor {index} has length {d.Length}, not a non-zero multiple of 16.");
        if (d.Length / Descriptor.Size > MaxIndirectDescriptors)
            return Failed($"Indirect table of descriptor {index} has {d.Length / Descriptor.Size} entries, more than the limit of {MaxIndirectDescriptors}.");
        if (!_memory.TryRead(d.Address, _indirectCopy.AsSpan(0, (int)d.Length)))
            return Failed($"Indirect table of descriptor {index} at GPA 0x{d.Address:x} (0x{d.Length:x} bytes) is outside guest memory.");
        tableSize = (int)(d.Length / Descriptor.Size);
        return true;
    }

    private static string Where(bool inIndirect) => inIndirect ? " of the indirect table" : "";

    private PopResult Fail(string reason)
    {
        MarkBroken(reason);
        return PopResult.Broken;
    }

    private bool Failed(string reason)
    {
        MarkBroken(reason);
        return false;
    }

    private void ThrowIfStale(in DescriptorChain chain)
    {
        if (!_lastChainValid || chain.Serial != _popSerial)
            throw new InvalidOperationException("Readers and writers exist only for the chain popped last from this queue.");
    }
}
