using Microsoft.Extensions.Logging;
using VhostDeviceCan.Interop;
using VhostDeviceCan.VhostUser;
using VhostDeviceCan.Virtqueue;

namespace VhostDeviceCan.Backend;

public sealed partial class BackendSession
{
    private void SetFeatures(ulong features)
    {
        ulong unknown = features & ~OfferedFeatures;
        if (unknown != 0) throw Refuse(VhostUserError.InvalidPayload, $"feature bits 0x{unknown:x} were not offered");
        _driver.AckedFeatures = features & ~VirtioFeatures.Bit(VirtioFeatures.VHOST_USER_F_PROTOCOL_FEATURES);
        bool eventIdx = VirtioFeatures.Has(features, VirtioFeatures.VIRTIO_RING_F_EVENT_IDX);
        bool indirect = VirtioFeatures.Has(features, VirtioFeatures.VIRTIO_RING_F_INDIRECT_DESC);
        foreach (var ring in _vrings)
        {
            ring.Queue.EventIdx = eventIdx;
            ring.Queue.IndirectDescriptors = indirect;
        }
        Logger.LogInformation("{Name}: driver acked features 0x{Features:x}", Name, _driver.AckedFeatures);
        _device.FeaturesAcked(_driver.AckedFeatures);
        // vhost-user.rst "Ring states": without VHOST_USER_F_PROTOCOL_FEATURES rings start enabled.
        if (!VirtioFeatures.Has(features, VirtioFeatures.VHOST_USER_F_PROTOCOL_FEATURES))
            for (int i = 0; i < _vrings.Length; i++) EnableRing(i, true);
    }

    private void SetProtocolFeatures(ProtocolFeatures features)
    {
        ProtocolFeatures unknown = features & ~OfferedProtocolFeatures;
        if (unknown != 0) throw Refuse(VhostUserError.InvalidPayload, $"protocol feature bits 0x{(ulong)unknown:x} were not offered");
        _ackedProtocolFeatures = features;
        Logger.LogInformation("{Name}: protocol features {Features}", Name, features);
    }

    private void SetMemTable(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < MemoryTableHeader.Length)
            throw Refuse(VhostUserError.InvalidPayloadSize, $"memory table of {payload.Length} bytes");
        var table = Payload.Read<MemoryTableHeader>(payload);
        if (table.NRegions == 0 || table.NRegions > MemoryTableHeader.MaxRegions || table.Padding != 0)
            throw Refuse(VhostUserError.InvalidPayload, $"memory table with {table.NRegions} regions (1 to {MemoryTableHeader.MaxRegions}) and padding {table.Padding}");
        Expect(payload, MemoryTableHeader.PayloadLength((int)table.NRegions), fds: (int)table.NRegions);

        var regions = new List<GuestMemoryRegion>((int)table.NRegions);
        GuestMemory memory;
        try
        {
            for (int i = 0; i < table.NRegions; i++)
            {
                var region = Payload.Read<MemoryRegion>(payload[(MemoryTableHeader.Length + i * MemoryRegion.Length)..]);
                regions.Add(MapRegion(region, i));
            }
            memory = new GuestMemory(regions);
        }
        catch (Exception e)
        {
            foreach (var region in regions) region.Dispose();
            // GuestMemory refuses overlapping regions with ArgumentException: that is the front-end's
            // mistake, so refuse the request (a failed ack) instead of failing the connection.
            if (e is ArgumentException) throw Refuse(VhostUserError.InvalidPayload, e.Message);
            throw;
        }
        InstallMemory(memory);
    }

    private GuestMemoryRegion MapRegion(in MemoryRegion region, int fdIndex)
    {
        if (!region.IsValid)
            throw Refuse(VhostUserError.InvalidPayload, $"memory region {region} is empty or wraps around");
        using FileDescriptor fd = _fds.Take(fdIndex);
        // Seal first, then check the size: once the file cannot shrink, a size checked here holds
        // for as long as the mapping lives.
        if (!GuestMemorySeals.TryProtect(fd, AllowUnsealedMemory, out ShrinkProtection protection, out string? unprotected))
            throw Refuse(VhostUserError.InvalidPayload,
                $"memory region {region}: {unprotected}. Share memfd memory (QEMU memory-backend-memfd, sealed by default), "
                + "or start the daemon with --allow-unsealed-memory to accept this risk");
        if (protection == ShrinkProtection.Unprotected)
            Logger.LogWarning("{Name}: memory region {Region} accepted unsealed (unsealed memory is allowed): {Reason}", Name, region, unprotected);
        else if (Logger.IsEnabled(LogLevel.Debug))
            Logger.LogDebug("{Name}: memory region {Region}: {Protection}", Name, region, protection);
        // A mapping may reach past the end of its file, but touching that part raises SIGBUS and
        // would kill the daemon the first time a descriptor points there; refuse such a region.
        if (fd.TryGetRegularFileSize(out long fileSize)
            && (region.MmapOffset > (ulong)fileSize || region.MemorySize > (ulong)fileSize - region.MmapOffset))
            throw Refuse(VhostUserError.InvalidPayload, $"memory region {region} reaches past the end of its {fileSize}-byte file");
        try
        {
            return GuestMemoryRegion.Map(fd, region.GuestPhysAddr, region.MemorySize, region.UserspaceAddr, region.MmapOffset);
        }
        catch (Exception e) when (e is SyscallException or ArgumentException)
        {
            throw new VhostUserException(VhostUserError.DeviceError, $"cannot map guest memory region {region}: {e.Message}", inner: e);
        }
    }

    /// <summary>Swaps in a whole new memory map (SET_MEM_TABLE) while rings may be running
    /// (hotplug): the request is refused, leaving the old map in place, if any ring would not fit.</summary>
    private void InstallMemory(GuestMemory memory)
    {
        if (!RemapRings(memory))
        {
            RemapRings(_memory);
            memory.Dispose();
            throw Refuse(VhostUserError.InvalidPayload, "a configured queue would lie outside the new memory map");
        }
        SwapMemory(memory);
        Logger.LogInformation("{Name}: guest memory: {Count} region(s), {MiB} MiB", Name, memory.Regions.Count,
            memory.Regions.Sum(r => (long)(r.Size >> 20)));
    }

    private void AddMemoryRegion(in SingleMemoryRegion message)
    {
        if (_memory.Regions.Count >= MaxMemorySlots)
            throw Refuse(VhostUserError.InvalidState, $"all {MaxMemorySlots} memory slots are in use");
        GuestMemoryRegion region = MapRegion(message.Region, 0);
        GuestMemory memory;
        try
        {
            memory = _memory.WithRegion(region);
        }
        catch (ArgumentException e)
        {
            region.Dispose();
            throw Refuse(VhostUserError.InvalidPayload, e.Message);
        }
        // WithRegion moved ownership of every region into the new set; from here on that set is
        // the one to keep, and a refusal re-derives the old shape from it.
        if (!RemapRings(memory))
        {
            GuestMemory restored = memory.WithoutRegion(region.GuestPhysAddr, region.Size, region.UserspaceAddr, out var added);
            SwapMemory(restored);
            RemapRings(restored);
            added?.Dispose();
            throw Refuse(VhostUserError.InvalidPayload, "a configured queue would lie outside the new memory map");
        }
        SwapMemory(memory);
    }

    private void RemoveMemoryRegion(in SingleMemoryRegion message)
    {
        // QEMU has been seen to pass the region's fd here too; accept and close it.
        if (_fds.Count > 1) throw Refuse(VhostUserError.WrongFdCount, $"expected at most 1 fd, got {_fds.Count}");
        MemoryRegion r = message.Region;
        if (!_memory.ContainsRegion(r.GuestPhysAddr, r.MemorySize, r.UserspaceAddr))
            throw Refuse(VhostUserError.InvalidPayload, $"no memory region {r} to remove");
        GuestMemory memory = _memory.WithoutRegion(r.GuestPhysAddr, r.MemorySize, r.UserspaceAddr, out GuestMemoryRegion? removed);
        if (!RemapRings(memory))
        {
            GuestMemory restored = memory.WithRegion(removed!);
            SwapMemory(restored);
            RemapRings(restored);
            throw Refuse(VhostUserError.InvalidPayload, "a configured queue lies in the region to remove");
        }
        SwapMemory(memory);
        removed!.Dispose();
    }

    /// <summary>Points every queue at <paramref name="memory"/>. A stopped queue whose rings no longer
    /// translate just becomes unready (SET_VRING_ADDR comes before it starts again); a running one
    /// makes the whole change fail.</summary>
    private bool RemapRings(GuestMemory memory)
    {
        bool ok = true;
        foreach (var ring in _vrings)
            if (!ring.Queue.TryRemap(memory) && ring.Started) ok = false;
        return ok;
    }

    private void SetBackendChannel()
    {
        _backendChannel?.Dispose();
        _backendChannel = new BackendChannel(new UnixSocket(_fds.Take(0)), _sharedThread);
    }

    private void SetVringNum(VringState state)
    {
        Vring ring = Ring(state.Index);
        if (ring.Started) throw Refuse(VhostUserError.InvalidState, $"queue {state.Index} is running");
        if (!ring.Queue.TrySetSize(state.Num))
            throw Refuse(VhostUserError.InvalidPayload, $"queue size {state.Num} is not a power of two up to {_device.MaxQueueSize}");
    }

    private void SetVringAddress(VringAddress address)
    {
        Vring ring = Ring(address.Index);
        if (!address.IsValid || (address.Flags & VringAddress.LogFlag) != 0)
            throw Refuse(VhostUserError.InvalidPayload, $"queue {address.Index}: flags 0x{address.Flags:x} (dirty logging is not supported)");
        if (!ring.Queue.TrySetAddresses(_memory, address.Descriptor, address.Available, address.Used, out string? error))
        {
            // A refused request must change nothing: the queue already took the bad addresses, so a
            // running ring would stop dead. Put back the ones that worked.
            if (ring.Address is { } good) ring.Queue.TrySetAddresses(_memory, good.Descriptor, good.Available, good.Used, out _);
            throw Refuse(VhostUserError.InvalidPayload, $"queue {address.Index}: {error}");
        }
        ring.Address = address;
        // docs/spec/vhost-user.md §6: the used index lives in guest memory; start from there.
        ring.Queue.SyncUsedIndexFromMemory();
        if (ring.IsLive) RunDevice(static (d, i) => d.QueueStarted(i), ring.Index);
    }

    private void SetVringBase(VringState state)
    {
        Vring ring = Ring(state.Index);
        if (ring.Started) throw Refuse(VhostUserError.InvalidState, $"queue {state.Index} is running");
        if (state.Num > ushort.MaxValue)
            throw Refuse(VhostUserError.InvalidPayload, $"queue {state.Index}: base {state.Num} does not fit a split ring");
        ring.Queue.NextAvailable = (ushort)state.Num;
    }

    private void GetVringBase(VringState state)
    {
        Vring ring = Ring(state.Index);
        bool wasActive = IsActive;
        if (ring.IsLive) RunDevice(static (d, i) => d.QueueStopping(i), ring.Index);
        ring.Started = false;
        ushort next = ring.Queue.NextAvailable;
        if (ring.Kick is { } kick) _watched.Remove(kick.Fd);
        ring.SetKick(null);
        ring.SetCall(null);
        // docs/spec/vhost-user.md §10.3: a stop followed by a start is the guest's reset of the device; without
        // STATUS (no SET_STATUS 0) nothing else would clear a broken ring, so it would stay dead.
        ring.RecoverIfBroken();
        Span<byte> reply = stackalloc byte[VringState.Length];
        Payload.Write(reply, new VringState(state.Index, next));
        _connection.SendReply((uint)FrontendRequest.GET_VRING_BASE, reply);
        // docs/spec/vhost-user.md §10.3: all rings stopped is the VMM's virtio reset.
        if (wasActive && !IsActive)
        {
            Logger.LogInformation("{Name}: all queues stopped; device reset", Name);
            _device.Reset();
        }
    }

    private void SetVringFd(FrontendRequest request, VringFdPayload value)
    {
        if (!value.IsValid) throw Refuse(VhostUserError.InvalidPayload, $"value 0x{value.Value:x} has reserved bits set");
        Vring ring = Ring(value.Index);
        int expectedFds = value.HasFd ? 1 : 0;
        if (_fds.Count != expectedFds)
            throw Refuse(VhostUserError.WrongFdCount, $"expected {expectedFds} fd(s) (no-fd flag {(value.HasFd ? "clear" : "set")}), got {_fds.Count}");
        EventFd? fd = value.HasFd ? new EventFd(_fds.Take(0)) : null;
        switch (request)
        {
            case FrontendRequest.SET_VRING_KICK:
                if (fd is null) throw Refuse(VhostUserError.InvalidPayload, "ring polling (kick without fd) is not supported");
                // Register the new fd before dropping the old one: a front-end may pass an fd epoll
                // cannot watch (a regular file or memfd gives EPERM), and that is its mistake to be
                // refused, with the ring left as it was.
                try
                {
                    // Edge-triggered, so the kick never has to be read: every write to an eventfd
                    // is an edge (docs/spec/vhost-user.md §6), and what it announces is in the
                    // ring, which the device reads after each one. The count it leaves behind
                    // harms nobody: only the front-end writes it, and it saturates rather than wraps.
                    _watched.Add(fd.Fd, (ulong)ring.Index, Libc.EPOLLIN | Libc.EPOLLET);
                }
                catch (SyscallException e)
                {
                    fd.Dispose();
                    throw Refuse(VhostUserError.InvalidPayload, $"queue {ring.Index}: the kick fd cannot be polled: {e.Message}");
                }
                if (ring.Kick is { } old) _watched.Remove(old.Fd);
                ring.SetKick(fd);
                bool wasLive = ring.IsLive;
                ring.Started = true;
                // docs/spec/vhost-user.md §6: QEMU's notifier starts out signalled and the driver may have
                // kicked before DRIVER_OK, so look at the ring as soon as it starts.
                if (!wasLive && ring.IsLive) RunDevice(static (d, i) => d.QueueStarted(i), ring.Index);
                break;
            case FrontendRequest.SET_VRING_CALL:
                ring.SetCall(fd);
                break;
            default:
                ring.SetError(fd);
                break;
        }
    }

    private void SetVringEnable(VringState state)
    {
        Vring ring = Ring(state.Index);
        if (state.Num > 1) throw Refuse(VhostUserError.InvalidPayload, $"queue {state.Index}: enable value {state.Num}");
        EnableRing((int)state.Index, state.Num == 1);
    }

    private void EnableRing(int index, bool enable)
    {
        Vring ring = _vrings[index];
        bool wasLive = ring.IsLive;
        ring.Enabled = enable;
        if (!wasLive && ring.IsLive) RunDevice(static (d, i) => d.QueueStarted(i), index);
        else if (wasLive && !ring.IsLive) RunDevice(static (d, i) => d.QueueStopping(i), index);
    }

    private void GetConfig(ReadOnlySpan<byte> payload)
    {
        var config = ReadConfigHeader(payload, fds: 0);
        int length = ConfigHeader.Length + (int)config.Size;
        Span<byte> reply = stackalloc byte[ConfigHeader.Length + (int)ConfigHeader.MaxConfigSize];
        reply = reply[..length];
        reply.Clear();
        Payload.Write(reply, config);
        // docs/spec/vhost-user.md §12: QEMU treats any other reply size as a protocol error, so never fail
        // here; bytes beyond the device's config read as zero.
        _device.ReadConfig(config.Offset, reply[ConfigHeader.Length..]);
        _connection.SendReply((uint)FrontendRequest.GET_CONFIG, reply);
    }

    private void SetConfig(ReadOnlySpan<byte> payload)
    {
        var config = ReadConfigHeader(payload, fds: 0);
        if (!_device.WriteConfig(config.Offset, payload.Slice(ConfigHeader.Length, (int)config.Size)))
            throw Refuse(VhostUserError.InvalidPayload, $"config write of {config.Size} bytes at {config.Offset} refused by the device");
    }

    private ConfigHeader ReadConfigHeader(ReadOnlySpan<byte> payload, int fds)
    {
        if (payload.Length < ConfigHeader.Length)
            throw Refuse(VhostUserError.InvalidPayloadSize, $"config payload of {payload.Length} bytes");
        var config = Payload.Read<ConfigHeader>(payload);
        if (config.Size > ConfigHeader.MaxConfigSize || config.Offset > ConfigHeader.MaxConfigSize
            || config.Offset + config.Size > ConfigHeader.MaxConfigSize)
            throw Refuse(VhostUserError.InvalidPayload, $"config range {config.Offset}+{config.Size} beyond {ConfigHeader.MaxConfigSize} bytes");
        Expect(payload, ConfigHeader.Length + (int)config.Size, fds);
        return config;
    }

    private void SetStatus(ulong status)
    {
        if (status > byte.MaxValue) throw Refuse(VhostUserError.InvalidPayload, $"status 0x{status:x} is wider than a byte");
        if (status == 0 && _driver.Status != 0) ResetDevice("SET_STATUS(0)");
        _driver.Status = (byte)status;
    }

    /// <summary>Virtio reset from the front-end: rings back to their initial state, device reset;
    /// ownership, negotiated protocol features, memory and the error eventfds stay (vhost-user.rst RESET_DEVICE).</summary>
    private void ResetDevice(string why)
    {
        Logger.LogInformation("{Name}: device reset ({Why})", Name, why);
        StopAllRings();
        _device.Reset();
        foreach (var ring in _vrings) ring.ResetDevice();
        _driver = default;
    }
}
