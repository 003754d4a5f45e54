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

    public int Count { get; private set; }
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

    public void Clear()
    {
        _front = 0;
        Count = 0;
    }
}
