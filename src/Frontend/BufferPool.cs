namespace VhostDeviceCan.Frontend;

/// <summary>
/// Fixed-size data buffers in guest RAM for one queue, like a driver's preallocated RX/TX buffers:
/// <see cref="Count"/> slots of <see cref="SlotSize"/> bytes from one contiguous GPA range, handed
/// out from a free stack. Renting and returning allocate nothing. Not thread-safe.
/// </summary>
public sealed class BufferPool
{
    private readonly int[] _free;
    private int _freeCount;

    public BufferPool(ulong baseGpa, int slotSize, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(slotSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        BaseGpa = baseGpa;
        SlotSize = slotSize;
        Count = count;
        _free = new int[count];
        Reset();
    }

    public ulong BaseGpa { get; }
    public int SlotSize { get; }
    public int Count { get; }
    public int Available => _freeCount;

    /// <summary>Takes a free slot; false when all are rented.</summary>
    public bool TryRent(out ulong gpa)
    {
        if (_freeCount == 0)
        {
            gpa = 0;
            return false;
        }
        gpa = BaseGpa + (ulong)_free[--_freeCount] * (ulong)SlotSize;
        return true;
    }

    public ulong Rent() => TryRent(out ulong gpa) ? gpa : throw new InvalidOperationException("Every buffer is in use.");

    /// <summary>Gives back a slot from <see cref="TryRent"/>.</summary>
    public void Return(ulong gpa)
    {
        ulong offset = gpa - BaseGpa;
        if (gpa < BaseGpa || offset % (ulong)SlotSize != 0 || offset / (ulong)SlotSize >= (ulong)Count || _freeCount == Count)
            throw new ArgumentException($"GPA 0x{gpa:x} is not a rented slot of this pool.", nameof(gpa));
        _free[_freeCount++] = (int)(offset / (ulong)SlotSize);
    }

    /// <summary>Every slot free again (after a device reset nothing is outstanding).</summary>
    public void Reset()
    {
        // Lowest slots on top, so a fresh pool hands out addresses in ascending order.
        for (int i = 0; i < Count; i++) _free[i] = Count - 1 - i;
        _freeCount = Count;
    }
}
