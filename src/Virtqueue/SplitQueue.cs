namespace VhostDeviceCan.Virtqueue;

/// <summary>
/// The device side of one split virtqueue (docs/spec/virtqueue.md). Configuration follows the vhost-user
/// messages: SET_VRING_NUM → <see cref="TrySetSize"/>, SET_VRING_ADDR → <see cref="TrySetAddresses"/>,
/// SET_VRING_BASE / GET_VRING_BASE → <see cref="NextAvailable"/>, memory-table changes →
/// <see cref="TryRemap"/>. A guest that breaks the ring rules (docs/spec/virtqueue.md §7) marks only this queue broken.
/// </summary>
/// <remarks>
/// Not thread-safe: one thread drives a queue. Popping, reading, writing and completing chains
/// allocate nothing; all buffers are sized for the largest chain in the constructor.
/// </remarks>
public sealed partial class SplitQueue
{
    /// <summary>Largest indirect table accepted (docs/spec/virtqueue.md §7.5: 1024 entries are plenty).</summary>
    public const int MaxIndirectDescriptors = 1024;

    private readonly ushort _maxSize;
    // A chain holds at most one descriptor per table entry (loop check) plus one indirect table.
    private readonly BufferSegment[] _segments;
    private readonly byte[] _indirectCopy = new byte[MaxIndirectDescriptors * Descriptor.Size];

    private GuestMemory _memory = GuestMemory.Empty;
    private ushort _size;
    private bool _addressesSet;
    private ulong _descriptorUva, _availableUva, _usedUva;
    private nint _descriptors, _available, _used; // host addresses, 0 while not mapped

    private ushort _nextAvailable;
    private ushort _nextUsed;       // where the next AddUsed goes
    private ushort _publishedUsed;  // used.idx as last stored in guest memory

    private int _segmentCount, _readableCount;
    private uint _readableLength, _writableLength;
    private uint _popSerial;
    private bool _lastChainValid;

    public SplitQueue(ushort maxSize)
    {
        if (!RingLayout.IsValidSize(maxSize, RingLayout.MaxQueueSize))
            throw new ArgumentOutOfRangeException(nameof(maxSize), maxSize, "Queue size must be a power of two from 1 to 32768.");
        _maxSize = maxSize;
        _size = maxSize;
        _segments = new BufferSegment[maxSize + MaxIndirectDescriptors];
    }

    public ushort MaxSize => _maxSize;

    /// <summary>N, the number of ring entries (SET_VRING_NUM).</summary>
    public ushort Size => _size;

    /// <summary>The memory the queue translates through, set by <see cref="TrySetAddresses"/> or <see cref="TryRemap"/>.</summary>
    public GuestMemory Memory => _memory;

    /// <summary>Size and ring addresses are set and translate into guest memory.</summary>
    public bool IsReady => _addressesSet && _descriptors != 0;

    public bool IsBroken => BrokenReason is not null;

    /// <summary>Why the queue is broken, naming the rule the driver broke; null while healthy.</summary>
    public string? BrokenReason { get; private set; }

    /// <summary>VIRTIO_F_EVENT_IDX negotiated (docs/spec/virtqueue.md §4).</summary>
    public bool EventIdx { get; set; }

    /// <summary>VIRTIO_F_INDIRECT_DESC negotiated (docs/spec/virtqueue.md §2); without it an INDIRECT flag breaks the ring.</summary>
    public bool IndirectDescriptors { get; set; }

    /// <summary>
    /// <c>last_avail</c>: the next available-ring index the device will consume (SET_VRING_BASE /
    /// GET_VRING_BASE). Free-running u16 (docs/spec/virtqueue.md §6).
    /// </summary>
    public ushort NextAvailable
    {
        get => _nextAvailable;
        set => _nextAvailable = value;
    }

    /// <summary>The used index the next <see cref="AddUsed"/> writes at (free-running u16).</summary>
    public ushort NextUsed => _nextUsed;

    /// <summary>Sets N (SET_VRING_NUM): a power of two from 1 to <see cref="MaxSize"/>.</summary>
    public bool TrySetSize(uint size)
    {
        if (!RingLayout.IsValidSize(size, _maxSize)) return false;
        _size = (ushort)size;
        // The areas' extents depend on N, so addresses set earlier must be checked again.
        if (_addressesSet) TryRemap(_memory);
        return true;
    }

    /// <summary>
    /// SET_VRING_ADDR: the three ring areas as front-end virtual addresses. Each must be aligned
    /// (16/2/4) and lie entirely inside one mapped region (docs/spec/virtqueue.md §7.1).
    /// </summary>
    public bool TrySetAddresses(GuestMemory memory, ulong descriptorUva, ulong availableUva, ulong usedUva, out string? error)
    {
        ArgumentNullException.ThrowIfNull(memory);
        _descriptorUva = descriptorUva;
        _availableUva = availableUva;
        _usedUva = usedUva;
        _addressesSet = true;
        return TryMap(memory, out error);
    }

    /// <summary>
    /// Re-translates the ring addresses through a new memory table (SET_MEM_TABLE, ADD/REM_MEM_REG).
    /// Descriptor buffers are GPAs and are looked up on every pop, so only the rings move. On
    /// failure the queue is no longer ready until addresses that translate are set.
    /// </summary>
    public bool TryRemap(GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (!_addressesSet)
        {
            _memory = memory;
            _lastChainValid = false;
            return true;
        }
        return TryMap(memory, out _);
    }

    /// <summary>Starts completions at <c>used.idx</c> as found in guest memory (docs/spec/virtqueue.md §6, vhost-user).</summary>
    public void SyncUsedIndexFromMemory()
    {
        if (!IsReady) return;
        // Plain atomic load: the driver only reads used.idx, so this is our own earlier value (or 0).
        _nextUsed = _publishedUsed = RingMemory.Load16(_used + RingLayout.UsedIdxOffset);
    }

    /// <summary>
    /// Marks the queue broken for a reason the device found (for example a request that makes no
    /// sense). Only the first reason is kept.
    /// </summary>
    public void MarkBroken(string reason)
    {
        BrokenReason ??= reason;
        _lastChainValid = false;
    }

    /// <summary>Back to the unconfigured state (GET_VRING_BASE stop, device reset): clears broken too.</summary>
    public void Reset()
    {
        _memory = GuestMemory.Empty;
        _size = _maxSize;
        _addressesSet = false;
        _descriptorUva = _availableUva = _usedUva = 0;
        _descriptors = _available = _used = 0;
        _nextAvailable = _nextUsed = _publishedUsed = 0;
        _segmentCount = _readableCount = 0;
        _readableLength = _writableLength = 0;
        _lastChainValid = false;
        EventIdx = false;
        IndirectDescriptors = false;
        BrokenReason = null;
    }

    private bool TryMap(GuestMemory memory, out string? error)
    {
        _memory = memory;
        _lastChainValid = false;
        _descriptors = _available = _used = 0;
        if (!TryTranslate(memory, "descriptor table", _descriptorUva, RingLayout.DescriptorTableSize(_size), RingLayout.DescriptorTableAlignment, out nint descriptors, out error)
            || !TryTranslate(memory, "available ring", _availableUva, RingLayout.AvailableRingSize(_size), RingLayout.AvailableRingAlignment, out nint available, out error)
            || !TryTranslate(memory, "used ring", _usedUva, RingLayout.UsedRingSize(_size), RingLayout.UsedRingAlignment, out nint used, out error))
            return false;
        _descriptors = descriptors;
        _available = available;
        _used = used;
        return true;
    }

    private static bool TryTranslate(GuestMemory memory, string area, ulong uva, ulong length, ulong alignment, out nint host, out string? error)
    {
        if ((uva & (alignment - 1)) != 0)
        {
            host = 0;
            error = $"The {area} at UVA 0x{uva:x} is not {alignment}-byte aligned.";
            return false;
        }
        if (!memory.TryTranslateUserAddress(uva, length, out host))
        {
            error = $"The {area} at UVA 0x{uva:x} (0x{length:x} bytes) is not inside one mapped memory region.";
            return false;
        }
        // Atomic ring-index accesses need natural alignment in our mapping too, which an odd
        // mmap_offset could break even when the UVA is aligned.
        if (((ulong)host & (alignment - 1)) != 0)
        {
            error = $"The {area} at UVA 0x{uva:x} maps to a host address that is not {alignment}-byte aligned.";
            host = 0;
            return false;
        }
        error = null;
        return true;
    }
}
