namespace VhostDeviceCan.VhostUser;

// Guest memory (vhost-user.rst "Memory region description", SET_MEM_TABLE, ADD_MEM_REG, REM_MEM_REG).
public sealed partial class VhostUserFrontend
{
    /// <summary>
    /// SET_MEM_TABLE: replaces the back-end's whole memory map; one fd per region, in order.
    /// Acked when REPLY_ACK is negotiated. At most 8 regions, QEMU's VHOST_MEMORY_BASELINE_NREGIONS;
    /// zero regions are sent as asked (a valid back-end refuses them).
    /// </summary>
    public void SetMemTable(ReadOnlySpan<(MemoryRegion region, int fd)> regions)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(regions.Length, MemoryTableHeader.MaxRegions, nameof(regions));
        Span<byte> payload = stackalloc byte[MemoryTableHeader.PayloadLength(regions.Length)];
        Span<int> fds = stackalloc int[regions.Length];
        Payload.Write(payload, new MemoryTableHeader((uint)regions.Length, 0));
        for (int i = 0; i < regions.Length; i++)
        {
            Payload.Write(payload[MemoryTableHeader.PayloadLength(i)..], regions[i].region);
            fds[i] = regions[i].fd;
        }
        Request(FrontendRequest.SET_MEM_TABLE, payload, fds, Ack.IfNegotiated);
    }

    /// <summary>ADD_MEM_REG (CONFIGURE_MEM_SLOTS): one region and its fd, acked when REPLY_ACK is negotiated.</summary>
    public void AddMemReg(MemoryRegion region, int fd)
    {
        Span<byte> payload = stackalloc byte[SingleMemoryRegion.Length];
        Payload.Write(payload, new SingleMemoryRegion(0, region));
        Request(FrontendRequest.ADD_MEM_REG, payload, [fd], Ack.IfNegotiated);
    }

    /// <summary>
    /// REM_MEM_REG: the back-end matches GPA, UVA and size; QEMU sends mmap_offset 0. Current QEMU
    /// sends no fd; earlier versions sent the region's fd too: pass <paramref name="fd"/> to act like those.
    /// </summary>
    public void RemMemReg(MemoryRegion region, int? fd = null)
    {
        Span<byte> payload = stackalloc byte[SingleMemoryRegion.Length];
        Payload.Write(payload, new SingleMemoryRegion(0, region));
        Span<int> fds = stackalloc int[1];
        fds[0] = fd.GetValueOrDefault();
        Request(FrontendRequest.REM_MEM_REG, payload, fd.HasValue ? fds : default, Ack.IfNegotiated);
    }
}
