using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Virtqueue;

/// <summary>
/// One region of guest RAM shared by the front-end (docs/spec/vhost-user.md §8): <c>Size</c> bytes that the
/// guest sees at <see cref="GuestPhysAddr"/> and the front-end at <see cref="UserspaceAddr"/>, found at
/// <see cref="MmapOffset"/> in the region's file. Owns its mapping; never owns the fd.
/// </summary>
public sealed class GuestMemoryRegion : IDisposable
{
    private readonly MemoryMapping _mapping;

    private GuestMemoryRegion(MemoryMapping mapping, ulong guestPhysAddr, ulong size, ulong userspaceAddr, ulong mmapOffset)
    {
        _mapping = mapping;
        GuestPhysAddr = guestPhysAddr;
        Size = size;
        UserspaceAddr = userspaceAddr;
        MmapOffset = mmapOffset;
        HostAddress = mapping.Address + (nint)mmapOffset;
    }

    public ulong GuestPhysAddr { get; }
    public ulong Size { get; }
    public ulong UserspaceAddr { get; }
    public ulong MmapOffset { get; }

    /// <summary>Where the region's first byte is mapped in this process. Invalid after dispose.</summary>
    public nint HostAddress { get; }

    /// <summary>Last guest-physical address in the region (inclusive, so it cannot wrap).</summary>
    public ulong LastGuestPhysAddr => GuestPhysAddr + (Size - 1);

    /// <summary>
    /// Maps <c>size + mmapOffset</c> bytes from file offset 0 and skips the offset, as libvhost-user
    /// does, so an offset that is not page-aligned still works (docs/spec/vhost-user.md §8). The caller keeps
    /// ownership of <paramref name="fd"/> and may close it right after: the mapping stays valid.
    /// </summary>
    /// <exception cref="ArgumentException">Zero size, or a range that wraps past 2^64 or the address space.</exception>
    /// <exception cref="SyscallException">mmap refused.</exception>
    public static GuestMemoryRegion Map(FileDescriptor fd, ulong guestPhysAddr, ulong size, ulong userspaceAddr, ulong mmapOffset)
    {
        ArgumentNullException.ThrowIfNull(fd);
        if (size == 0) throw new ArgumentException("Memory region has zero size.", nameof(size));
        // Written as "size - 1 > max - start" so that checking for a wrap cannot itself wrap.
        if (size - 1 > ulong.MaxValue - guestPhysAddr)
            throw new ArgumentException($"Guest-physical range 0x{guestPhysAddr:x}+0x{size:x} wraps past 2^64.", nameof(size));
        if (size - 1 > ulong.MaxValue - userspaceAddr)
            throw new ArgumentException($"Userspace range 0x{userspaceAddr:x}+0x{size:x} wraps past 2^64.", nameof(size));
        if (mmapOffset > ulong.MaxValue - size || size + mmapOffset > (ulong)nint.MaxValue)
            throw new ArgumentException($"Mapping of 0x{size:x} bytes at offset 0x{mmapOffset:x} does not fit the address space.", nameof(mmapOffset));

        var mapping = MemoryMapping.Map(fd, size + mmapOffset, 0);
        return new GuestMemoryRegion(mapping, guestPhysAddr, size, userspaceAddr, mmapOffset);
    }

    /// <summary>True if <c>[uva, uva + length)</c> is non-empty and lies entirely inside this region.</summary>
    public bool ContainsUserRange(ulong uva, ulong length) =>
        length != 0 && uva >= UserspaceAddr && uva - UserspaceAddr < Size && length <= Size - (uva - UserspaceAddr);

    /// <summary>True if the two regions share at least one guest-physical address.</summary>
    public bool Overlaps(GuestMemoryRegion other) =>
        GuestPhysAddr <= other.LastGuestPhysAddr && other.GuestPhysAddr <= LastGuestPhysAddr;

    public void Dispose() => _mapping.Dispose();
}
