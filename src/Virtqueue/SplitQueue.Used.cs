namespace VhostDeviceCan.Virtqueue;

public sealed partial class SplitQueue
{
    /// <summary>
    /// Writes <c>used.ring[next_used % N] = {head, length}</c> (docs/spec/virtqueue.md §3.2). The driver
    /// sees it only after <see cref="PublishUsed"/>. A broken or unconfigured queue writes nothing
    /// (docs/spec/virtqueue.md §7.9: never write guest memory on the basis of invalid data).
    /// </summary>
    /// <param name="head">The <see cref="DescriptorChain.Head"/> being returned.</param>
    /// <param name="length">Bytes written into the chain's writable buffers (docs/spec/virtqueue.md §2: may undercount, never overcount).</param>
    public void AddUsed(ushort head, uint length)
    {
        if (BrokenReason is not null || !IsReady) return;
        if (head >= _size) throw new ArgumentOutOfRangeException(nameof(head), head, "Head is not a descriptor index of this queue.");
        nint element = _used + RingLayout.UsedRingOffset(_nextUsed & (uint)(_size - 1));
        // Plain stores: the release store of used.idx in PublishUsed orders them (docs/spec/virtqueue.md §5.2).
        RingMemory.Store32(element, head);
        RingMemory.Store32(element + 4, length);
        _nextUsed++;
    }

    /// <summary>
    /// Makes every element added since the last call visible by storing used.idx (docs/spec/virtqueue.md §3.3) and says
    /// whether the driver asked to be notified about them (docs/spec/virtqueue.md §4). False when nothing was added.
    /// </summary>
    public bool PublishUsed()
    {
        if (BrokenReason is not null || !IsReady) return false;
        ushort oldIdx = _publishedUsed, newIdx = _nextUsed;
        if (oldIdx == newIdx) return false;

        // docs/spec/virtqueue.md §5.2: release, so the buffer data and used elements are visible before the new idx.
        RingMemory.StoreRelease16(_used + RingLayout.UsedIdxOffset, newIdx);
        _publishedUsed = newIdx;

        // docs/spec/virtqueue.md §5.3: the idx store must be globally visible before we read the driver's suppression
        // state; otherwise the driver may read the old idx while we read its old used_event, and
        // neither side wakes the other. A store followed by a load needs a full fence.
        Interlocked.MemoryBarrier();

        if (EventIdx)
        {
            // docs/spec/virtqueue.md §4: with EVENT_IDX the flags bit is ignored; notify iff this batch crossed used_event.
            ushort usedEvent = RingMemory.Load16(_available + RingLayout.UsedEventOffset(_size));
            return RingLayout.NeedEvent(usedEvent, newIdx, oldIdx);
        }
        // docs/spec/virtqueue.md §4: without EVENT_IDX, NO_INTERRUPT means "should not notify"; otherwise we must.
        ushort flags = RingMemory.Load16(_available + RingLayout.AvailFlagsOffset);
        return (flags & RingLayout.AvailFlagNoInterrupt) == 0;
    }

    /// <summary>
    /// Asks for kicks again before idling (docs/spec/virtqueue.md §3.4) and re-checks the available ring. Returns true
    /// if buffers are already waiting: keep draining, because the driver may have added them while
    /// kicks were off and will not kick for them.
    /// </summary>
    public bool EnableNotification()
    {
        if (BrokenReason is not null || !IsReady) return false;
        if (EventIdx)
        {
            // docs/spec/virtqueue.md §4: wake me when the driver makes entry last_avail available.
            RingMemory.Store16(_used + RingLayout.AvailEventOffset(_size), _nextAvailable);
        }
        else
        {
            // docs/spec/virtqueue.md §4: only 0 or 1 are allowed in used.flags.
            RingMemory.Store16(_used + RingLayout.UsedFlagsOffset, 0);
        }
        // docs/spec/virtqueue.md §5.4: the store above must be visible before we re-read avail.idx, or a driver that
        // read the old suppression state and skipped its kick is missed (the lost-kick race).
        Interlocked.MemoryBarrier();
        ushort availableIdx = RingMemory.LoadAcquire16(_available + RingLayout.AvailIdxOffset);
        return availableIdx != _nextAvailable;
    }

    /// <summary>
    /// Asks the driver not to kick while the device is draining (docs/spec/virtqueue.md §4). With EVENT_IDX nothing is
    /// written: used.flags must stay 0 and avail_event simply stops being advanced.
    /// </summary>
    public void DisableNotification()
    {
        if (BrokenReason is not null || !IsReady || EventIdx) return;
        RingMemory.Store16(_used + RingLayout.UsedFlagsOffset, RingLayout.UsedFlagNoNotify);
    }
}
