namespace VhostDeviceCan.Device;

/// <summary>
/// Frames received from the bus and already encoded as virtio_can_rx messages, waiting for the
/// guest to post Rxq buffers. Bounded: when full, the newest frame is dropped (and counted by
/// the caller) rather than buffered without limit (the reference's unbounded FIFO, docs/spec/virtio-can.md §10.2).
/// </summary>
internal sealed class RxBacklog(int capacity, int slotSize)
{
    private readonly byte[] _slots = new byte[capacity * slotSize];
    private readonly int[] _lengths = new int[capacity];
    private int _front;
    private int _count;

    public int Count
    {
        get => _count;
        private set => Volatile.Write(ref _count, value);
    }

    /// <summary><see cref="Count"/> for a reader on another thread (metrics); a moment old.</summary>
    public int CountFromAnyThread => Volatile.Read(ref _count);
    public int Capacity => capacity;
    public bool IsFull => Count == capacity;

    /// <summary>The free slot at the back, for an encoder to write into before <see cref="Commit"/>.</summary>
    public Span<byte> BackSlot => _slots.AsSpan((_front + Count) % capacity * slotSize, slotSize);

    public void Commit(int length)
    {
        _lengths[(_front + Count) % capacity] = length;
        Count++;
    }

    public ReadOnlySpan<byte> Front => _slots.AsSpan(_front * slotSize, _lengths[_front]);

    public void RemoveFront()
    {
        _front = (_front + 1) % capacity;
        Count--;
    }

    /// <summary>Discards every frame; returns how many there were.</summary>
    public int Clear()
    {
        int discarded = Count;
        _front = 0;
        Count = 0;
        return discarded;
    }
}
