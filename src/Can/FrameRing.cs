using System.Runtime.InteropServices;

namespace VhostDeviceCan.Can;

/// <summary>
/// A bounded, lock-free, multi-producer single-consumer queue of <see cref="CanFrame"/>s in
/// fixed slots: the inbox of one virtual bus member.
/// </summary>
/// <remarks>
/// The algorithm is D. Vyukov's bounded queue: each slot carries a sequence number that says
/// whose turn it is. Slot i of lap L holds sequence L*capacity + i when free for the producer of
/// position p = L*capacity + i, and p + 1 once that producer has written it. Producers claim a
/// position with one compare-and-swap on the enqueue counter; the single consumer needs no
/// atomic read-modify-write at all. A full ring is detected without touching the consumer's
/// counter, so senders never contend with the receiver on a shared cache line.
/// A producer that has claimed a slot but not yet published it hides the slots after it from the
/// consumer until it publishes; that is fine here because every producer wakes the consumer
/// after publishing (<see cref="VirtualCanBusMember"/>).
/// </remarks>
internal sealed class FrameRing
{
    private struct Slot
    {
        public long Sequence;
        public CanFrame Frame;
    }

    // The two counters on separate cache lines: producers hammer Enqueue, the consumer Dequeue.
    [StructLayout(LayoutKind.Explicit, Size = 192)]
    private struct Positions
    {
        [FieldOffset(64)] public long Enqueue;
        [FieldOffset(128)] public long Dequeue;
    }

    private readonly Slot[] _slots;
    private readonly long _mask;
    private Positions _positions;

    public FrameRing(int capacity)
    {
        if (capacity < 2 || (capacity & (capacity - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(capacity), "capacity must be a power of two, at least 2");
        _slots = new Slot[capacity];
        _mask = capacity - 1;
        for (int i = 0; i < capacity; i++) _slots[i].Sequence = i;
    }

    public int Capacity => _slots.Length;

    /// <summary>Frames published and not yet taken; approximate while producers are running.</summary>
    public int Count
    {
        get
        {
            long count = Volatile.Read(ref _positions.Enqueue) - Volatile.Read(ref _positions.Dequeue);
            return (int)Math.Clamp(count, 0, _slots.Length);
        }
    }

    /// <summary>Producers only, one at a time (the bus's publish lock): how many frames fit now.
    /// The consumer only ever adds room, so the figure holds until this producer enqueues.</summary>
    public int FreeSpace
    {
        get
        {
            // Acquire: pairs with the consumer's release of the dequeue counter, which comes
            // after it released the slots, so every slot counted free here is free.
            long used = Volatile.Read(ref _positions.Enqueue) - Volatile.Read(ref _positions.Dequeue);
            return (int)Math.Clamp(_slots.Length - used, 0, _slots.Length);
        }
    }

    /// <summary>Any thread. Copies the frame into the next slot; false (nothing written) when full.</summary>
    public bool TryEnqueue(in CanFrame frame)
    {
        long position = Volatile.Read(ref _positions.Enqueue);
        while (true)
        {
            ref Slot slot = ref _slots[position & _mask];
            // Acquire: pairs with the consumer's release below, so its copy of the previous
            // lap's frame is complete before this producer overwrites the slot.
            long sequence = Volatile.Read(ref slot.Sequence);
            long lag = sequence - position;
            if (lag == 0)
            {
                long observed = Interlocked.CompareExchange(ref _positions.Enqueue, position + 1, position);
                if (observed == position)
                {
                    slot.Frame = frame;
                    // Release: the frame is written before the consumer can see the slot as full.
                    Volatile.Write(ref slot.Sequence, position + 1);
                    return true;
                }
                position = observed;
            }
            else if (lag < 0)
            {
                // The slot still holds the frame of the previous lap: the ring is full.
                return false;
            }
            else
            {
                // Another producer claimed this position first; catch up.
                position = Volatile.Read(ref _positions.Enqueue);
            }
        }
    }

    /// <summary>Consumer thread only. Moves published frames, in order, into <paramref name="destination"/>.</summary>
    public int DequeueInto(Span<CanFrame> destination)
    {
        long position = _positions.Dequeue;
        int count = 0;
        while (count < destination.Length)
        {
            ref Slot slot = ref _slots[position & _mask];
            // Acquire: pairs with the producer's release, so the frame is complete.
            if (Volatile.Read(ref slot.Sequence) != position + 1) break;
            destination[count++] = slot.Frame;
            // Release: the frame is copied out before a producer of the next lap may reuse the slot.
            Volatile.Write(ref slot.Sequence, position + _slots.Length);
            position++;
        }
        Volatile.Write(ref _positions.Dequeue, position);
        return count;
    }

    /// <summary>Consumer thread only. True when the next frame in order is published.</summary>
    public bool HasPublished
    {
        get
        {
            long position = _positions.Dequeue;
            return Volatile.Read(ref _slots[position & _mask].Sequence) == position + 1;
        }
    }
}
