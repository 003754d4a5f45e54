using VhostDeviceCan.Interop;
using VhostDeviceCan.VhostUser;
using VhostDeviceCan.Virtqueue;

namespace VhostDeviceCan.Frontend;

/// <summary>
/// One region of guest RAM as the VMM describes it to the back-end: the vhost-user region record,
/// whose <c>userspace_addr</c> is where this process really mapped it (docs/spec/vhost-user.md §8), and the
/// memfd to pass with it.
/// </summary>
public sealed class GuestRamRegion
{
    internal GuestRamRegion(GuestMemoryRegion mapping, FileDescriptor file, bool ownsFile)
    {
        Mapping = mapping;
        File = file;
        OwnsFile = ownsFile;
        Description = new MemoryRegion(mapping.GuestPhysAddr, mapping.Size, (ulong)mapping.HostAddress, mapping.MmapOffset);
    }

    /// <summary>The record sent with SET_MEM_TABLE / ADD_MEM_REG / REM_MEM_REG.</summary>
    public MemoryRegion Description { get; }

    /// <summary>The memfd holding the region (shared by regions cut from the same file).</summary>
    public int Fd => File.Value;

    public ulong GuestPhysAddr => Description.GuestPhysAddr;
    public ulong Size => Description.MemorySize;

    internal GuestMemoryRegion Mapping { get; }
    internal FileDescriptor File { get; }
    internal bool OwnsFile { get; }
}
