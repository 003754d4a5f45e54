namespace VhostDeviceCan.Virtqueue;

/// <summary>
/// An immutable set of non-overlapping guest RAM regions (docs/spec/vhost-user.md §8) with overflow-safe
/// translation: no method ever computes <c>address + length</c> in a way that can wrap.
/// </summary>
/// <remarks>
/// <para><b>Ownership.</b> A <see cref="GuestMemory"/> owns the regions it was built from and unmaps
/// them on <see cref="Dispose"/>. <see cref="WithRegion"/> and <see cref="WithoutRegion"/>
/// (ADD_MEM_REG / REM_MEM_REG) <i>move</i> ownership: the returned set owns every surviving region, the
/// removed region goes to the caller through <c>out</c>, and this set keeps translating (it stays a
/// valid view for queues still using it) but its <see cref="Dispose"/> no longer unmaps anything. That
/// lets a memory update run as docs/spec/vhost-user.md §8 asks: build the new set, swap it into the queues, then
/// dispose the old set and the removed region once no queue reads through them any more. Ownership
/// can be moved out of a set only once. A set whose ownership moved stays valid until the new set or
/// the removed region is disposed; a disposed set translates nothing.</para>
/// <para>Translation is safe from several threads; <see cref="Dispose"/> must not race with it.</para>
/// </remarks>
public sealed class GuestMemory : IDisposable
{
    private readonly GuestMemoryRegion[] _regions;
    // Parallel arrays sorted by guest-physical address, for a branch-light binary search on the hot path.
    private readonly ulong[] _starts;
    private readonly ulong[] _sizes;
    private readonly nint[] _hosts;
    private int _state; // 0 = owns its regions, 1 = ownership moved to another set, 2 = disposed

    /// <summary>A set with no regions; every translation fails. Disposing it does nothing.</summary>
    public static GuestMemory Empty { get; } = new([]);

    /// <summary>Takes ownership of <paramref name="regions"/> once construction succeeds.</summary>
    /// <exception cref="ArgumentException">Two regions overlap in guest-physical space (nothing is taken).</exception>
    public GuestMemory(IEnumerable<GuestMemoryRegion> regions)
    {
        ArgumentNullException.ThrowIfNull(regions);
        var sorted = regions.ToArray();
        Array.Sort(sorted, static (a, b) => a.GuestPhysAddr.CompareTo(b.GuestPhysAddr));
        for (int i = 1; i < sorted.Length; i++)
        {
            if (sorted[i - 1].Overlaps(sorted[i]))
                throw new ArgumentException(
                    $"Memory regions at GPA 0x{sorted[i - 1].GuestPhysAddr:x} and 0x{sorted[i].GuestPhysAddr:x} overlap.", nameof(regions));
        }
        _regions = sorted;
        _starts = new ulong[sorted.Length];
        _sizes = new ulong[sorted.Length];
        _hosts = new nint[sorted.Length];
        for (int i = 0; i < sorted.Length; i++)
        {
            _starts[i] = sorted[i].GuestPhysAddr;
            _sizes[i] = sorted[i].Size;
            _hosts[i] = sorted[i].HostAddress;
        }
    }

    /// <summary>The regions, sorted by guest-physical address.</summary>
    public IReadOnlyList<GuestMemoryRegion> Regions => _regions;

    /// <summary>
    /// Translates a front-end virtual address range (SET_VRING_ADDR ring addresses) that must lie
    /// inside one region.
    /// </summary>
    public bool TryTranslateUserAddress(ulong uva, ulong length, out nint host)
    {
        if (_state == 2) { host = 0; return false; }
        foreach (var region in _regions)
        {
            if (region.ContainsUserRange(uva, length == 0 ? 1 : length))
            {
                host = region.HostAddress + (nint)(uva - region.UserspaceAddr);
                return true;
            }
        }
        host = 0;
        return false;
    }

    /// <summary>The front-end virtual address of <paramref name="gpa"/>, for a driver placing rings.</summary>
    public bool TryTranslateToUserAddress(ulong gpa, out ulong uva)
    {
        int i = Find(gpa);
        uva = i < 0 ? 0 : _regions[i].UserspaceAddr + (gpa - _starts[i]);
        return i >= 0;
    }

    /// <summary>
    /// Host pointer for <c>[gpa, gpa + length)</c> when the whole range lies in one region. A
    /// zero length only needs <paramref name="gpa"/> to be inside a region.
    /// </summary>
    public bool TryGetHostPointer(ulong gpa, ulong length, out nint host)
    {
        int i = Find(gpa);
        if (i >= 0 && length <= _sizes[i] - (gpa - _starts[i]))
        {
            host = _hosts[i] + (nint)(gpa - _starts[i]);
            return true;
        }
        host = 0;
        return false;
    }

    /// <summary>
    /// True if every byte of <c>[gpa, gpa + length)</c> is mapped; the range may cross regions that
    /// are contiguous in guest-physical space (docs/spec/virtqueue.md §7.4). An empty range is always valid:
    /// it touches no memory.
    /// </summary>
    public bool IsValidRange(ulong gpa, ulong length)
    {
        while (length != 0)
        {
            int i = Find(gpa);
            if (i < 0) return false;
            ulong available = _sizes[i] - (gpa - _starts[i]);
            if (length <= available) return true;
            length -= available;
            // The region ends at or below 2^64 - 1; a range still running past 2^64 has no next region.
            if (_starts[i] + (_sizes[i] - 1) == ulong.MaxValue) return false;
            gpa = _starts[i] + _sizes[i];
        }
        return true;
    }

    /// <summary>Copies guest memory out; fails without copying anything if any byte is unmapped.</summary>
    public unsafe bool TryRead(ulong gpa, Span<byte> destination)
    {
        if (!IsValidRange(gpa, (ulong)destination.Length)) return false;
        while (!destination.IsEmpty)
        {
            int chunk = Chunk(gpa, destination.Length, out nint host);
            // SAFETY: Chunk returns a pointer and a length inside one mapped region; IsValidRange
            // proved above that every byte of the range is mapped.
            new ReadOnlySpan<byte>((void*)host, chunk).CopyTo(destination);
            destination = destination[chunk..];
            gpa += (ulong)chunk;
        }
        return true;
    }

    /// <summary>Copies into guest memory; fails without writing anything if any byte is unmapped.</summary>
    public unsafe bool TryWrite(ulong gpa, ReadOnlySpan<byte> source)
    {
        if (!IsValidRange(gpa, (ulong)source.Length)) return false;
        while (!source.IsEmpty)
        {
            int chunk = Chunk(gpa, source.Length, out nint host);
            // SAFETY: as in TryRead, the range was checked to be mapped and Chunk stays in one region.
            source[..chunk].CopyTo(new Span<byte>((void*)host, chunk));
            source = source[chunk..];
            gpa += (ulong)chunk;
        }
        return true;
    }

    /// <summary>
    /// A new set with every region of this one plus <paramref name="region"/>; ownership of all of them
    /// moves to the new set (see remarks). On failure nothing moves.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="region"/> overlaps an existing region.</exception>
    public GuestMemory WithRegion(GuestMemoryRegion region)
    {
        ArgumentNullException.ThrowIfNull(region);
        ThrowIfNotOwner();
        var next = new GuestMemory([.. _regions, region]);
        ReleaseOwnership();
        return next;
    }

    /// <summary>True if a region with exactly these GPA, size and UVA is in the set.</summary>
    public bool ContainsRegion(ulong gpa, ulong size, ulong uva) => IndexOf(gpa, size, uva) >= 0;

    /// <summary>
    /// A new set without the region matching <paramref name="gpa"/>, <paramref name="size"/> and
    /// <paramref name="uva"/> (REM_MEM_REG). The new set owns the survivors; the caller owns
    /// <paramref name="removed"/> and unmaps it once no queue uses this set any more.
    /// </summary>
    /// <exception cref="ArgumentException">No region matches (nothing moves).</exception>
    public GuestMemory WithoutRegion(ulong gpa, ulong size, ulong uva, out GuestMemoryRegion? removed)
    {
        ThrowIfNotOwner();
        int index = IndexOf(gpa, size, uva);
        if (index < 0)
            throw new ArgumentException($"No memory region at GPA 0x{gpa:x} size 0x{size:x} UVA 0x{uva:x}.", nameof(gpa));
        removed = _regions[index];
        var survivors = new GuestMemoryRegion[_regions.Length - 1];
        Array.Copy(_regions, 0, survivors, 0, index);
        Array.Copy(_regions, index + 1, survivors, index, survivors.Length - index);
        var next = new GuestMemory(survivors);
        ReleaseOwnership();
        return next;
    }

    /// <summary>Unmaps every region this set still owns (see remarks).</summary>
    public void Dispose()
    {
        if (ReferenceEquals(this, Empty)) return;
        if (Interlocked.Exchange(ref _state, 2) != 0) return;
        foreach (var region in _regions) region.Dispose();
    }

    /// <summary>Index of the region holding <paramref name="gpa"/>, or -1.</summary>
    private int Find(ulong gpa)
    {
        // A disposed set translates nothing, so a late caller gets "unmapped" instead of a dangling pointer.
        if (_state == 2) return -1;
        ulong[] starts = _starts;
        int lo = 0, hi = starts.Length - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (starts[mid] <= gpa) { found = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        return found >= 0 && gpa - starts[found] < _sizes[found] ? found : -1;
    }

    /// <summary>How many of <paramref name="wanted"/> bytes at a mapped <paramref name="gpa"/> lie in its region.</summary>
    private int Chunk(ulong gpa, int wanted, out nint host)
    {
        int i = Find(gpa);
        ulong offset = gpa - _starts[i];
        host = _hosts[i] + (nint)offset;
        return (int)Math.Min((ulong)wanted, _sizes[i] - offset);
    }

    private int IndexOf(ulong gpa, ulong size, ulong uva)
    {
        for (int i = 0; i < _regions.Length; i++)
        {
            var r = _regions[i];
            if (r.GuestPhysAddr == gpa && r.Size == size && r.UserspaceAddr == uva) return i;
        }
        return -1;
    }

    private void ThrowIfNotOwner()
    {
        if (Volatile.Read(ref _state) != 0)
            throw new InvalidOperationException("This memory set was disposed or its regions already moved to another set.");
    }

    private void ReleaseOwnership()
    {
        // Empty owns nothing, so it can seed any number of sets.
        if (_regions.Length != 0) Volatile.Write(ref _state, 1);
    }
}
