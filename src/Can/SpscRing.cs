using System.Runtime.InteropServices;

namespace VhostDeviceCan.Can;

/// <summary>
/// A bounded queue of value-type items between one producer thread and one consumer thread,
/// with no lock and no allocation after construction: a timed bus member's offered frames (its
/// device thread to the bus's wire thread) and its transmission outcomes (back again).
/// </summary>
/// <remarks>
/// Positions only grow. The producer writes the slot and then publishes the new tail (release);
/// the consumer reads the tail (acquire), copies the slot out and then publishes the new head
/// (release), after which the producer may reuse the slot.
/// </remarks>
internal sealed class SpscRing<T> where T : struct
{
    private readonly T[] _items;
    private readonly long _mask;
    private SpscPositions _positions;

    public SpscRing(int capacity)
    {
        if (capacity < 2 || (capacity & (capacity - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(capacity), "capacity must be a power of two, at least 2");
        _items = new T[capacity];
        _mask = capacity - 1;
    }

    public int Capacity => _items.Length;

    /// <summary>Items waiting; exact on either side's own thread up to the other side's progress.</summary>
    public int Count => (int)Math.Clamp(Volatile.Read(ref _positions.Tail) - Volatile.Read(ref _positions.Head), 0, _items.Length);

    /// <summary>Producer: the position the next item will have (the count of items ever enqueued).</summary>
    public long TailPosition => _positions.Tail;

    /// <summary>Consumer: the position of the front item.</summary>
    public long HeadPosition => _positions.Head;

    /// <summary>Producer only. False (nothing written) when full.</summary>
    public bool TryEnqueue(in T item)
    {
        long tail = _positions.Tail;
        // Acquire: pairs with the consumer's release of the head, so the slot was copied out.
        if (tail - Volatile.Read(ref _positions.Head) == _items.Length) return false;
        _items[tail & _mask] = item;
        // Release: the item is written before the consumer can see it.
        Volatile.Write(ref _positions.Tail, tail + 1);
        return true;
    }

    /// <summary>Consumer only. True when an item is waiting; it stays in place until <see cref="Dequeue"/>.</summary>
    public bool HasItem => Volatile.Read(ref _positions.Tail) != _positions.Head;

    /// <summary>Consumer only, after <see cref="HasItem"/>: the front item, in place.</summary>
    public ref readonly T Front => ref _items[_positions.Head & _mask];

    /// <summary>Consumer only: drops the front item (after <see cref="HasItem"/>).</summary>
    public void Dequeue() => Volatile.Write(ref _positions.Head, _positions.Head + 1);

    /// <summary>Consumer only: moves waiting items, oldest first, into <paramref name="destination"/>.</summary>
    public int DequeueInto(Span<T> destination)
    {
        long head = _positions.Head;
        int count = (int)Math.Min(Volatile.Read(ref _positions.Tail) - head, destination.Length);
        for (int i = 0; i < count; i++) destination[i] = _items[(head + i) & _mask];
        Volatile.Write(ref _positions.Head, head + count);
        return count;
    }
}

/// <summary>An <see cref="SpscRing{T}"/>'s two positions on separate cache lines: each side writes
/// one and reads the other. (Outside the generic type: explicit layout cannot be generic.)</summary>
[StructLayout(LayoutKind.Explicit, Size = 192)]
internal struct SpscPositions
{
    [FieldOffset(64)] public long Head;
    [FieldOffset(128)] public long Tail;
}
