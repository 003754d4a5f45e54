namespace VhostDeviceCan.Virtqueue;

public sealed partial class DriverQueue
{
    /// <summary>
    /// Writes a chain and its avail.ring entry; the device sees it after <see cref="PublishAvailable"/>.
    /// The driver's own rule (docs/spec/virtqueue.md §2) is the caller's: readable buffers before writable ones.
    /// </summary>
    /// <returns>The head descriptor index, which <see cref="TryTakeUsed"/> returns later.</returns>
    /// <exception cref="InvalidOperationException">Not enough free descriptors or indirect space.</exception>
    public ushort AddChain(ReadOnlySpan<DriverBuffer> buffers, bool indirect = false) =>
        TryAddChain(buffers, indirect, out ushort head) ? head
            : throw new InvalidOperationException($"No room for a chain of {buffers.Length} buffers (indirect: {indirect}).");

    /// <summary>As <see cref="AddChain"/>, returning false when the ring is full.</summary>
    public bool TryAddChain(ReadOnlySpan<DriverBuffer> buffers, bool indirect, out ushort head)
    {
        if (buffers.IsEmpty) throw new ArgumentException("A chain needs at least one buffer.", nameof(buffers));
        head = 0;
        if (indirect ? (_freeCount < 1 || buffers.Length > MaxIndirectBuffers) : _freeCount < buffers.Length)
            return false;

        head = _freeHead;
        if (indirect)
        {
            TakeFree();
            uint slotOffset = head * _indirectSlotBytes;
            for (int i = 0; i < buffers.Length; i++)
            {
                var b = buffers[i];
                bool last = i == buffers.Length - 1;
                var entry = new Descriptor(b.Address, b.Length, Flags(b.Writable, !last), last ? (ushort)0 : (ushort)(i + 1));
                RingMemory.StoreDescriptor(_indirectArea + (nint)(slotOffset + (uint)i * Descriptor.Size), entry);
            }
            var pointer = new Descriptor(_indirectAreaGpa + slotOffset, (uint)buffers.Length * Descriptor.Size, Descriptor.FlagIndirect, 0);
            RingMemory.StoreDescriptor(DescriptorAddress(head), pointer);
            _chainLength[head] = 1;
        }
        else
        {
            for (int i = 0; i < buffers.Length; i++)
            {
                ushort index = TakeFree();
                var b = buffers[i];
                bool last = i == buffers.Length - 1;
                // The next free index is where the following buffer goes; write it now so the table
                // is complete before the ring entry points at it.
                ushort next = last ? (ushort)0 : _freeHead;
                _chainNextShadow[index] = next;
                var d = new Descriptor(b.Address, b.Length, Flags(b.Writable, !last), next);
                RingMemory.StoreDescriptor(DescriptorAddress(index), d);
            }
            _chainLength[head] = (ushort)buffers.Length;
        }

        RingMemory.Store16(_available + RingLayout.AvailRingOffset(_availableShadow & (uint)(_size - 1)), head);
        _availableShadow++;
        return true;
    }

    /// <summary>Makes every chain added so far visible to the device by storing avail.idx.</summary>
    public void PublishAvailable()
    {
        // The driver's half of docs/spec/virtqueue.md §5.1: descriptors and ring entries are visible before the new idx.
        RingMemory.StoreRelease16(_available + RingLayout.AvailIdxOffset, _availableShadow);
        _publishedAvailable = _availableShadow;
    }

    /// <summary>
    /// Whether the device wants a kick for the chains published since the previous call (docs/spec/virtqueue.md §4):
    /// with EVENT_IDX, when they crossed avail_event; otherwise unless used.flags has NO_NOTIFY.
    /// </summary>
    public bool NeedsKick()
    {
        // A store (avail.idx) followed by a load (avail_event / used.flags) needs a full fence (docs/spec/virtqueue.md §5.3).
        Interlocked.MemoryBarrier();
        ushort oldIdx = _kickedAvailable, newIdx = _publishedAvailable;
        _kickedAvailable = newIdx;
        if (EventIdx)
            return RingLayout.NeedEvent(RingMemory.Load16(_used + RingLayout.AvailEventOffset(_size)), newIdx, oldIdx);
        return (RingMemory.Load16(_used + RingLayout.UsedFlagsOffset) & RingLayout.UsedFlagNoNotify) == 0;
    }

    /// <summary>Takes the next used element and frees its descriptors.</summary>
    /// <exception cref="InvalidOperationException">The device returned a head that is not outstanding.</exception>
    public bool TryTakeUsed(out ushort head, out uint length)
    {
        head = 0;
        length = 0;
        // Acquire: the element and the data the device wrote are at least as new as used.idx.
        ushort usedIdx = RingMemory.LoadAcquire16(_used + RingLayout.UsedIdxOffset);
        if (usedIdx == _lastUsed) return false;

        nint element = _used + RingLayout.UsedRingOffset(_lastUsed & (uint)(_size - 1));
        uint id = RingMemory.Load32(element);
        length = RingMemory.Load32(element + 4);
        if (id >= _size || _chainLength[id] == 0)
            throw new InvalidOperationException($"Device returned head {id}, which is not an outstanding chain.");
        head = (ushort)id;
        FreeChain(head);
        _lastUsed++;

        if (EventIdx && !_suppressInterrupts)
        {
            // Like Linux: ask for an interrupt at the next entry, and make that visible before the
            // next used.idx read (store then load: full fence).
            RingMemory.Store16(_available + RingLayout.UsedEventOffset(_size), _lastUsed);
            Interlocked.MemoryBarrier();
        }
        return true;
    }

    /// <summary>used.idx as the device published it.</summary>
    public ushort UsedIndex => RingMemory.LoadAcquire16(_used + RingLayout.UsedIdxOffset);

    private static ushort Flags(bool writable, bool next) =>
        (ushort)((writable ? Descriptor.FlagWrite : 0) | (next ? Descriptor.FlagNext : 0));

    private nint DescriptorAddress(ushort index) => _descriptors + index * Descriptor.Size;

    private ushort TakeFree()
    {
        ushort index = _freeHead;
        _freeHead = _nextFree[index];
        _freeCount--;
        return index;
    }

    private void FreeChain(ushort head)
    {
        // Walk the shadow links written by AddChain, never guest memory, so a device cannot make the
        // driver free the wrong descriptors.
        ushort index = head;
        for (int i = _chainLength[head]; i > 0; i--)
        {
            ushort next = _chainNextShadow[index];
            _nextFree[index] = _freeHead;
            _freeHead = index;
            _freeCount++;
            index = next;
        }
        _chainLength[head] = 0;
    }
}
