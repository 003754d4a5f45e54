using VhostDeviceCan.Interop;
using VhostDeviceCan.Virtqueue;

namespace VhostDeviceCan.Frontend;

/// <summary>
/// Guest RAM as a VMM creates it: memfd-backed, mapped shared in this process, described to the
/// back-end with the real mapping addresses as <c>userspace_addr</c>. It also hands out GPA ranges
/// for rings and buffer pools (a bump allocator: the layout is fixed once, at set-up).
/// </summary>
/// <remarks>
/// The <see cref="Memory"/> view translates guest-physical addresses only; ring addresses for
/// SET_VRING_ADDR come from <see cref="UserAddress"/>, which is the host pointer itself.
/// </remarks>
public sealed class GuestRam : IDisposable
{
    private readonly List<GuestRamRegion> _regions = [];
    // Bump allocation state: the region being filled and the next free offset in it.
    private int _allocRegion;
    private ulong _allocOffset;

    private GuestRam(GuestMemory memory) => Memory = memory;

    /// <summary>GPA translation over every region (the guest's view).</summary>
    public GuestMemory Memory { get; private set; }

    /// <summary>Regions in the order they were created; the first ones are the boot RAM.</summary>
    public IReadOnlyList<GuestRamRegion> Regions => _regions;

    /// <summary>
    /// Creates <paramref name="size"/> bytes of RAM in one memfd: one region at GPA 0, or with
    /// <paramref name="split"/> two regions of half the size each, the second at
    /// <paramref name="highGpa"/> and file offset size/2 (x86's PCI hole, docs/spec/vhost-user.md §8).
    /// </summary>
    public static GuestRam Create(ulong size, bool split = false, ulong highGpa = 0x1_0000_0000)
    {
        ulong page = (ulong)MemoryMapping.PageSize;
        if (size == 0 || size % (split ? 2 * page : page) != 0)
            throw new ArgumentOutOfRangeException(nameof(size), size, "RAM size must be a non-zero multiple of the page size (two pages when split).");
        var file = MemFd.Create("guest-ram", (long)size);
        var ram = new GuestRam(GuestMemory.Empty);
        try
        {
            if (split)
            {
                ulong half = size / 2;
                if (highGpa < half) throw new ArgumentOutOfRangeException(nameof(highGpa), "The high region would overlap the low one.");
                ram.AddMapping(file, ownsFile: true, gpa: 0, half, fileOffset: 0);
                ram.AddMapping(file, ownsFile: false, gpa: highGpa, half, fileOffset: half);
            }
            else
            {
                ram.AddMapping(file, ownsFile: true, gpa: 0, size, fileOffset: 0);
            }
            return ram;
        }
        catch
        {
            ram.Dispose();
            if (ram._regions.Count == 0) file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Hot-plugs <paramref name="size"/> bytes at <paramref name="gpa"/> in a new memfd, mapped here;
    /// tell the back-end with ADD_MEM_REG or a new SET_MEM_TABLE. Not used by the allocator.
    /// </summary>
    public GuestRamRegion AddRegion(ulong gpa, ulong size)
    {
        var file = MemFd.Create("guest-ram-hotplug", (long)size);
        try
        {
            return AddMapping(file, ownsFile: true, gpa, size, 0);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Unplugs a region added with <see cref="AddRegion"/> and unmaps it here.</summary>
    public void RemoveRegion(GuestRamRegion region)
    {
        ArgumentNullException.ThrowIfNull(region);
        int index = _regions.IndexOf(region);
        if (index < 0) throw new ArgumentException("Not a region of this RAM.", nameof(region));
        if (index <= _allocRegion) throw new InvalidOperationException("The region holds rings or buffers.");
        var mapping = region.Mapping;
        Memory = Memory.WithoutRegion(mapping.GuestPhysAddr, mapping.Size, mapping.UserspaceAddr, out var removed);
        removed?.Dispose();
        _regions.RemoveAt(index);
        if (region.OwnsFile) region.File.Dispose();
    }

    /// <summary>
    /// Reserves <paramref name="size"/> bytes aligned to <paramref name="alignment"/> inside one boot
    /// region and returns their GPA.
    /// </summary>
    /// <exception cref="InvalidOperationException">The RAM is full.</exception>
    public ulong Allocate(ulong size, ulong alignment = 16)
    {
        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(alignment), "Alignment must be a power of two.");
        for (; _allocRegion < _regions.Count; _allocRegion++, _allocOffset = 0)
        {
            var region = _regions[_allocRegion];
            ulong start = (region.GuestPhysAddr + _allocOffset + alignment - 1) & ~(alignment - 1);
            ulong offset = start - region.GuestPhysAddr;
            if (offset <= region.Size && size <= region.Size - offset)
            {
                _allocOffset = offset + size;
                return start;
            }
        }
        throw new InvalidOperationException($"Guest RAM has no room for {size} more bytes.");
    }

    /// <summary>The VMM's virtual address of <paramref name="gpa"/> (what SET_VRING_ADDR carries).</summary>
    public ulong UserAddress(ulong gpa) =>
        Memory.TryGetHostPointer(gpa, 0, out nint host) ? (ulong)host
            : throw new ArgumentOutOfRangeException(nameof(gpa), $"GPA 0x{gpa:x} is not guest RAM.");

    /// <summary>Guest bytes at <paramref name="gpa"/>, which must lie in one region. Allocates nothing.</summary>
    public unsafe Span<byte> GetSpan(ulong gpa, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (!Memory.TryGetHostPointer(gpa, (ulong)length, out nint host))
            throw new ArgumentOutOfRangeException(nameof(gpa), $"GPA 0x{gpa:x}+{length} is not inside one region.");
        // SAFETY: TryGetHostPointer proved all of [gpa, gpa+length) lies in one live mapping, which
        // stays mapped until this RAM is disposed or the region removed.
        return new Span<byte>((void*)host, length);
    }

    private GuestRamRegion AddMapping(FileDescriptor file, bool ownsFile, ulong gpa, ulong size, ulong fileOffset)
    {
        // The VMM's own view needs no userspace address: rings are placed through host pointers.
        var mapping = GuestMemoryRegion.Map(file, gpa, size, userspaceAddr: 0, fileOffset);
        GuestMemory next;
        try
        {
            next = Memory.WithRegion(mapping);
        }
        catch
        {
            mapping.Dispose();
            throw;
        }
        Memory.Dispose();
        Memory = next;
        var region = new GuestRamRegion(mapping, file, ownsFile);
        _regions.Add(region);
        return region;
    }

    public void Dispose()
    {
        Memory.Dispose();
        Memory = GuestMemory.Empty;
        foreach (var region in _regions)
            if (region.OwnsFile) region.File.Dispose();
        _regions.Clear();
    }
}
