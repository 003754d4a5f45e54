using VhostDeviceCan.VhostUser;

namespace VhostDeviceCan.Frontend;

// What QEMU sends when the guest writes DRIVER_OK and when it resets the device (docs/spec/vhost-user.md §10.2, docs/spec/vhost-user.md §10.3).
public sealed partial class VirtioFrontend
{
    /// <summary>
    /// Starts the device as QEMU's vhost_dev_start does (docs/spec/vhost-user.md §10.2): SET_FEATURES (with
    /// STATUS: FEATURES_OK), the memory table, per queue SET_VRING_NUM / BASE / ADDR / KICK / CALL,
    /// SET_VRING_ENABLE 1 for every queue, with STATUS the DRIVER_OK status, and finally the call
    /// eventfds again (the generic device unmasks its notifiers). Every queue gets a fresh, empty
    /// driver ring whose indices start at <paramref name="ringBase"/> (use values near 0xFFFF to test
    /// wrap-around).
    /// </summary>
    public void Start(ushort ringBase = 0)
    {
        if (IsRunning) throw new InvalidOperationException("The device is already running.");
        bool eventIdx = VirtioFeatures.Has(AckedFeatures, VirtioFeatures.VIRTIO_RING_F_EVENT_IDX);
        foreach (var queue in _queues) queue.Reset(ringBase, eventIdx);

        Client.SetFeatures(Negotiation.FeaturesToSet);
        if (Has(ProtocolFeatures.STATUS)) Client.AddStatus(DeviceStatus.FEATURES_OK);
        SendMemory();
        foreach (var queue in _queues)
        {
            uint index = (uint)queue.Index;
            Client.SetVringNum(index, queue.Size);
            Client.SetVringBase(index, ringBase);
            Client.SetVringAddr(queue.Address);
            Client.SetVringKick(index, queue.KickFd.Fd);
            Client.SetVringCall(index, queue.CallFd.Fd);
        }
        foreach (var queue in _queues) Client.SetVringEnable((uint)queue.Index, true);
        if (Has(ProtocolFeatures.STATUS))
            Client.AddStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.DRIVER_OK);
        foreach (var queue in _queues) Client.SetVringCall((uint)queue.Index, queue.CallFd.Fd);
        IsRunning = true;
    }

    /// <summary>
    /// Stops the device as QEMU's vhost_dev_stop does (docs/spec/vhost-user.md §10.3): SET_VRING_ENABLE 0 for
    /// every queue, GET_VRING_BASE per queue, then with STATUS SET_STATUS(0). Returns each queue's
    /// next-avail index as the back-end reported it.
    /// </summary>
    public uint[] Stop()
    {
        var bases = new uint[_queues.Length];
        foreach (var queue in _queues) Client.SetVringEnable((uint)queue.Index, false);
        foreach (var queue in _queues) bases[queue.Index] = Client.GetVringBase((uint)queue.Index);
        if (Has(ProtocolFeatures.STATUS)) Client.SetStatus(0);
        IsRunning = false;
        return bases;
    }

    /// <summary>
    /// Sends guest RAM the way QEMU does: with CONFIGURE_MEM_SLOTS (and <see cref="VirtioFrontendOptions.UseAddMemReg"/>)
    /// ADD_MEM_REG for every region the back-end does not have yet and REM_MEM_REG for each it
    /// should no longer have; otherwise one SET_MEM_TABLE with every region.
    /// </summary>
    public void SendMemory()
    {
        if (Options.UseAddMemReg && Has(ProtocolFeatures.CONFIGURE_MEM_SLOTS) && !_memoryTableSent)
        {
            foreach (var stale in _regionsSent.Where(r => !Ram.Regions.Contains(r)).ToList())
            {
                Client.RemMemReg(stale.Description);
                _regionsSent.Remove(stale);
            }
            foreach (var region in Ram.Regions)
                if (_regionsSent.Add(region)) Client.AddMemReg(region.Description, region.Fd);
            return;
        }
        SendMemoryTable();
    }

    /// <summary>SET_MEM_TABLE with every region of <see cref="Ram"/> (replaces the back-end's whole map).</summary>
    public void SendMemoryTable()
    {
        var table = new (MemoryRegion, int)[Ram.Regions.Count];
        for (int i = 0; i < table.Length; i++) table[i] = (Ram.Regions[i].Description, Ram.Regions[i].Fd);
        Client.SetMemTable(table);
        _regionsSent.Clear();
        foreach (var region in Ram.Regions) _regionsSent.Add(region);
        _memoryTableSent = true;
    }

    /// <summary>Hot-plugs a new RAM region and tells the back-end (ADD_MEM_REG).</summary>
    public GuestRamRegion AddMemoryRegion(ulong gpa, ulong size)
    {
        var region = Ram.AddRegion(gpa, size);
        Client.AddMemReg(region.Description, region.Fd);
        _regionsSent.Add(region);
        return region;
    }

    /// <summary>Unplugs a region added with <see cref="AddMemoryRegion"/>: REM_MEM_REG, then unmaps it here.</summary>
    public void RemoveMemoryRegion(GuestRamRegion region)
    {
        ArgumentNullException.ThrowIfNull(region);
        Client.RemMemReg(region.Description);
        _regionsSent.Remove(region);
        Ram.RemoveRegion(region);
    }
}
