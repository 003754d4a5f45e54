namespace VhostDeviceCan.Virtqueue;

/// <summary>
/// The driver side of a split virtqueue over the same <see cref="GuestMemory"/> as the device: what
/// a guest driver does, for the front-end and for tests. The rings live at caller-chosen GPAs; indirect
/// tables come from a caller-provided GPA area cut into one slot per descriptor. Bookkeeping (free
/// list, chain links) is kept in managed shadows, as Linux does, so a misbehaving device cannot
/// corrupt it; <see cref="TryTakeUsed"/> throws when the device returns a head that is not
/// outstanding. Raw hooks write arbitrary ring contents for hostile tests.
/// </summary>
public sealed partial class DriverQueue
{
    private readonly GuestMemory _memory;
    private readonly ushort _size;
    private readonly nint _descriptors, _available, _used;
    private readonly nint _indirectArea;
    private readonly ulong _indirectAreaGpa;
    private readonly uint _indirectSlotBytes;

    private readonly ushort[] _nextFree;     // free-list links, by descriptor index
    private readonly ushort[] _chainLength;  // descriptors held by an outstanding head; 0 = not outstanding
    private readonly ushort[] _chainNextShadow; // the next link of each direct descriptor, as written
    private ushort _freeHead;
    private int _freeCount;

    private ushort _availableShadow;  // avail.idx including chains not yet published
    private ushort _publishedAvailable;
    private ushort _kickedAvailable;  // avail.idx at the last NeedsKick, the "old" of need_event
    private ushort _lastUsed;
    private bool _suppressInterrupts;

    /// <exception cref="ArgumentException">A size that is not a power of two, or an area that is misaligned or not inside one region.</exception>
    public DriverQueue(GuestMemory memory, ushort size, ulong descriptorGpa, ulong availableGpa, ulong usedGpa,
        ulong indirectAreaGpa = 0, ulong indirectAreaSize = 0)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (!RingLayout.IsValidSize(size, RingLayout.MaxQueueSize))
            throw new ArgumentException("Queue size must be a power of two from 1 to 32768.", nameof(size));
        _memory = memory;
        _size = size;
        _descriptors = MapArea(memory, descriptorGpa, RingLayout.DescriptorTableSize(size), RingLayout.DescriptorTableAlignment, nameof(descriptorGpa));
        _available = MapArea(memory, availableGpa, RingLayout.AvailableRingSize(size), RingLayout.AvailableRingAlignment, nameof(availableGpa));
        _used = MapArea(memory, usedGpa, RingLayout.UsedRingSize(size), RingLayout.UsedRingAlignment, nameof(usedGpa));
        DescriptorGpa = descriptorGpa;
        AvailableGpa = availableGpa;
        UsedGpa = usedGpa;

        _indirectSlotBytes = (uint)Math.Min(indirectAreaSize / size / Descriptor.Size * Descriptor.Size, uint.MaxValue);
        if (_indirectSlotBytes != 0)
        {
            _indirectArea = MapArea(memory, indirectAreaGpa, indirectAreaSize, Descriptor.Size, nameof(indirectAreaGpa));
            _indirectAreaGpa = indirectAreaGpa;
        }

        Clear(_descriptors, RingLayout.DescriptorTableSize(size));
        Clear(_available, RingLayout.AvailableRingSize(size));
        Clear(_used, RingLayout.UsedRingSize(size));

        _nextFree = new ushort[size];
        _chainLength = new ushort[size];
        _chainNextShadow = new ushort[size];
        for (int i = 0; i < size; i++) _nextFree[i] = (ushort)(i + 1);
        _freeCount = size;
    }

    public static ulong DescriptorTableSize(uint size) => RingLayout.DescriptorTableSize(size);
    public static ulong AvailableRingSize(uint size) => RingLayout.AvailableRingSize(size);
    public static ulong UsedRingSize(uint size) => RingLayout.UsedRingSize(size);
    public static ulong DescriptorTableAlignment => RingLayout.DescriptorTableAlignment;
    public static ulong AvailableRingAlignment => RingLayout.AvailableRingAlignment;
    public static ulong UsedRingAlignment => RingLayout.UsedRingAlignment;

    public ushort Size => _size;
    /// <summary>The guest memory holding the rings: a test that plays a hostile driver writes
    /// them through it directly, past this class's bookkeeping.</summary>
    public GuestMemory Memory => _memory;
    public ulong DescriptorGpa { get; }
    public ulong AvailableGpa { get; }
    public ulong UsedGpa { get; }

    /// <summary>Descriptors not held by an outstanding chain.</summary>
    public int FreeDescriptors => _freeCount;

    /// <summary>Most buffers an indirect chain may have (the size of one indirect slot).</summary>
    public int MaxIndirectBuffers => (int)(_indirectSlotBytes / Descriptor.Size);

    /// <summary>avail.idx including chains added but not yet published.</summary>
    public ushort AvailableIndex => _availableShadow;

    /// <summary>The used index the next <see cref="TryTakeUsed"/> looks at.</summary>
    public ushort LastUsed => _lastUsed;

    /// <summary>VIRTIO_F_EVENT_IDX negotiated: kicks and interrupts use avail_event / used_event (docs/spec/virtqueue.md §4).</summary>
    public bool EventIdx { get; set; }

    /// <summary>
    /// Asks the device not to notify (docs/spec/virtqueue.md §4): avail.flags NO_INTERRUPT without EVENT_IDX, or a used_event
    /// far behind with it. Turning it off publishes used_event = <see cref="LastUsed"/> (or clears
    /// the flag) followed by a full fence; then call <see cref="TryTakeUsed"/> again, since the device
    /// may have completed buffers while notifications were off.
    /// </summary>
    public bool SuppressInterrupts
    {
        get => _suppressInterrupts;
        set
        {
            _suppressInterrupts = value;
            if (EventIdx)
                RingMemory.Store16(_available + RingLayout.UsedEventOffset(_size), value ? (ushort)(_lastUsed - 0x8000) : _lastUsed);
            else
                RingMemory.Store16(_available + RingLayout.AvailFlagsOffset, value ? RingLayout.AvailFlagNoInterrupt : (ushort)0);
            // Mirror of docs/spec/virtqueue.md §5.4 on the driver side: the suppression state is visible before we look for used entries.
            Interlocked.MemoryBarrier();
        }
    }

    /// <summary>
    /// Moves both free-running indices to <paramref name="start"/> as if the ring had been running, to
    /// test wrap-around (docs/spec/virtqueue.md §6). Only before any chain is outstanding; the device then takes
    /// <c>NextAvailable = start</c> and <see cref="SplitQueue.SyncUsedIndexFromMemory"/>.
    /// </summary>
    public void ResetIndices(ushort start)
    {
        if (_freeCount != _size) throw new InvalidOperationException("Chains are outstanding.");
        _availableShadow = _publishedAvailable = _kickedAvailable = _lastUsed = start;
        RingMemory.Store16(_available + RingLayout.AvailIdxOffset, start);
        RingMemory.Store16(_used + RingLayout.UsedIdxOffset, start);
        if (EventIdx) RingMemory.Store16(_available + RingLayout.UsedEventOffset(_size), start);
        Interlocked.MemoryBarrier();
    }

    private static nint MapArea(GuestMemory memory, ulong gpa, ulong length, ulong alignment, string name)
    {
        if ((gpa & (alignment - 1)) != 0)
            throw new ArgumentException($"GPA 0x{gpa:x} is not {alignment}-byte aligned.", name);
        if (!memory.TryGetHostPointer(gpa, length, out nint host))
            throw new ArgumentException($"GPA 0x{gpa:x} (0x{length:x} bytes) is not inside one memory region.", name);
        return host;
    }

    private static unsafe void Clear(nint host, ulong length)
    {
        // SAFETY: host..host+length was translated inside one region by MapArea; ring areas are < 2^20 bytes.
        new Span<byte>((void*)host, checked((int)length)).Clear();
    }
}
