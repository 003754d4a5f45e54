using VhostDeviceCan.VhostUser;
using static VhostDeviceCan.Backend.Tests.BadMessage;
using static VhostDeviceCan.VhostUser.FrontendRequest;

namespace VhostDeviceCan.Backend.Tests;

/// <summary>The malformed requests every back-end must refuse cleanly (docs/spec/vhost-user.md §2, docs/spec/vhost-user.md §5, docs/spec/vhost-user.md §12; docs/spec/virtqueue.md §7).</summary>
internal static class BadMessages
{
    private const ulong Page = 4096;

    public static IEnumerable<BadMessage> All()
    {
        // Wrong payload size, request by request.
        yield return new("GET_FEATURES with 8 bytes", GET_FEATURES, Setup.Connected, _ => Bytes(8), HasOwnReply: true);
        yield return new("SET_FEATURES with 4 bytes", SET_FEATURES, Setup.Connected, _ => Bytes(4));
        yield return new("SET_OWNER with 8 bytes", SET_OWNER, Setup.Connected, _ => Bytes(8));
        yield return new("RESET_OWNER with 8 bytes", RESET_OWNER, Setup.Connected, _ => Bytes(8));
        yield return new("GET_PROTOCOL_FEATURES with 8 bytes", GET_PROTOCOL_FEATURES, Setup.Connected, _ => Bytes(8), HasOwnReply: true);
        yield return new("SET_PROTOCOL_FEATURES with 4 bytes", SET_PROTOCOL_FEATURES, Setup.Connected, _ => Bytes(4));
        yield return new("GET_QUEUE_NUM with 8 bytes", GET_QUEUE_NUM, Setup.Connected, _ => Bytes(8), HasOwnReply: true);
        yield return new("GET_MAX_MEM_SLOTS with 8 bytes", GET_MAX_MEM_SLOTS, Setup.Connected, _ => Bytes(8), HasOwnReply: true);
        yield return new("SET_MEM_TABLE with 7 bytes", SET_MEM_TABLE, Setup.Connected, _ => Bytes(7));
        yield return new("SET_MEM_TABLE of 1 region with 39 bytes", SET_MEM_TABLE, Setup.Connected, f => MemTable(1, 0, f.Ram.Regions[0].Description)[..39], Fds: 1);
        yield return new("ADD_MEM_REG with 32 bytes", ADD_MEM_REG, Setup.Connected, f => Of(f.Ram.Regions[0].Description), Fds: 1);
        yield return new("REM_MEM_REG with 32 bytes", REM_MEM_REG, Setup.Running, f => Of(f.Ram.Regions[0].Description));
        yield return new("SET_VRING_NUM with 4 bytes", SET_VRING_NUM, Setup.Connected, _ => Bytes(4));
        yield return new("SET_VRING_ADDR with 32 bytes", SET_VRING_ADDR, Setup.Stopped, f => Addr(f)[..32]);
        yield return new("SET_VRING_BASE with 12 bytes", SET_VRING_BASE, Setup.Connected, _ => Bytes(12));
        yield return new("GET_VRING_BASE with 4 bytes", GET_VRING_BASE, Setup.Running, _ => Bytes(4), HasOwnReply: true);
        yield return new("SET_VRING_KICK with 4 bytes", SET_VRING_KICK, Setup.Connected, _ => Bytes(4), Fds: 1);
        yield return new("SET_VRING_CALL with 12 bytes", SET_VRING_CALL, Setup.Connected, _ => Bytes(12), Fds: 1);
        yield return new("SET_VRING_ERR with 0 bytes", SET_VRING_ERR, Setup.Connected, _ => Bytes(0), Fds: 1);
        yield return new("SET_VRING_ENABLE with 4 bytes", SET_VRING_ENABLE, Setup.Connected, _ => Bytes(4));
        yield return new("GET_CONFIG with 8 bytes", GET_CONFIG, Setup.Connected, _ => Bytes(8), HasOwnReply: true);
        yield return new("GET_CONFIG of 8 bytes carrying 4", GET_CONFIG, Setup.Connected, _ => Config(0, 8, 4), HasOwnReply: true);
        yield return new("SET_CONFIG of 4 bytes carrying 8", SET_CONFIG, Setup.Connected, _ => Config(0, 4, 8));
        yield return new("SET_BACKEND_REQ_FD with 8 bytes", SET_BACKEND_REQ_FD, Setup.Connected, _ => Bytes(8), Fds: 1);
        yield return new("GET_STATUS with 8 bytes", GET_STATUS, Setup.Connected, _ => Bytes(8), HasOwnReply: true);
        yield return new("SET_STATUS with 4 bytes", SET_STATUS, Setup.Connected, _ => Bytes(4));
        yield return new("RESET_DEVICE with 8 bytes", RESET_DEVICE, Setup.Running, _ => Bytes(8));

        // Wrong number of fds: every one that arrives must be closed.
        yield return new("SET_FEATURES with an fd", SET_FEATURES, Setup.Connected, _ => U64(Sessions.Features()), Fds: 1);
        yield return new("SET_OWNER with 2 fds", SET_OWNER, Setup.Connected, _ => Bytes(0), Fds: 2);
        yield return new("GET_FEATURES with an fd", GET_FEATURES, Setup.Connected, _ => Bytes(0), Fds: 1, HasOwnReply: true);
        yield return new("SET_VRING_NUM with an fd", SET_VRING_NUM, Setup.Connected, _ => State(0, 64), Fds: 1);
        yield return new("SET_MEM_TABLE of 1 region with 2 fds", SET_MEM_TABLE, Setup.Connected, f => MemTable(1, 0, f.Ram.Regions[0].Description), Fds: 2);
        yield return new("SET_MEM_TABLE of 2 regions with 1 fd", SET_MEM_TABLE, Setup.Connected, f => MemTable(2, 0, f.Ram.Regions[0].Description, Shifted(f.Ram.Regions[0].Description, 1UL << 40)), Fds: 1);
        yield return new("ADD_MEM_REG without an fd", ADD_MEM_REG, Setup.Connected, f => Of(new SingleMemoryRegion(0, f.Ram.Regions[0].Description)));
        yield return new("REM_MEM_REG with 2 fds", REM_MEM_REG, Setup.Running, f => Of(new SingleMemoryRegion(0, f.Ram.Regions[0].Description)), Fds: 2);
        yield return new("SET_VRING_KICK with an fd and the no-fd bit", SET_VRING_KICK, Setup.Connected, _ => U64(0x100), Fds: 1);
        yield return new("SET_VRING_CALL without an fd or the no-fd bit", SET_VRING_CALL, Setup.Connected, _ => U64(0));
        yield return new("SET_BACKEND_REQ_FD without an fd", SET_BACKEND_REQ_FD, Setup.Connected, _ => Bytes(0));
        yield return new("SET_VRING_KICK with a memfd, which cannot be polled", SET_VRING_KICK, Setup.Running, _ => U64(0), Fds: 1, RamFd: true);

        // Memory tables (docs/spec/vhost-user.md §12).
        yield return new("SET_MEM_TABLE with 0 regions", SET_MEM_TABLE, Setup.Running, _ => MemTable(0, 0));
        yield return new("SET_MEM_TABLE with 9 regions", SET_MEM_TABLE, Setup.Running, f => MemTable(9, 0, NineRegions(f)), Fds: 9);
        yield return new("SET_MEM_TABLE with bad padding", SET_MEM_TABLE, Setup.Running, f => MemTable(1, 1, f.Ram.Regions[0].Description), Fds: 1);
        yield return new("SET_MEM_TABLE whose GPA range wraps 2^64", SET_MEM_TABLE, Setup.Running,
            f => MemTable(1, 0, f.Ram.Regions[0].Description with { GuestPhysAddr = ulong.MaxValue - Page + 1, MemorySize = 2 * Page }), Fds: 1);
        yield return new("SET_MEM_TABLE whose UVA range wraps 2^64", SET_MEM_TABLE, Setup.Running,
            f => MemTable(1, 0, f.Ram.Regions[0].Description with { UserspaceAddr = ulong.MaxValue - Page + 1, MemorySize = 2 * Page }), Fds: 1);
        yield return new("SET_MEM_TABLE with a region larger than its memfd", SET_MEM_TABLE, Setup.Running,
            f => MemTable(1, 0, f.Ram.Regions[0].Description with { MemorySize = 2 * f.Ram.Regions[0].Size }), Fds: 1);
        yield return new("SET_MEM_TABLE with a region past the end of its memfd", SET_MEM_TABLE, Setup.Running,
            f => MemTable(1, 0, f.Ram.Regions[0].Description with { MmapOffset = Page }), Fds: 1);
        yield return new("ADD_MEM_REG with a region larger than its memfd", ADD_MEM_REG, Setup.Running,
            f => Of(new SingleMemoryRegion(0, Shifted(f.Ram.Regions[0].Description, 1UL << 40) with { MemorySize = 4 * f.Ram.Regions[0].Size })), Fds: 1);
        yield return new("SET_MEM_TABLE with an empty region", SET_MEM_TABLE, Setup.Running, f => MemTable(1, 0, f.Ram.Regions[0].Description with { MemorySize = 0 }), Fds: 1);
        yield return new("SET_MEM_TABLE with overlapping regions", SET_MEM_TABLE, Setup.Running,
            f => MemTable(2, 0, f.Ram.Regions[0].Description, f.Ram.Regions[0].Description), Fds: 2);
        yield return new("SET_MEM_TABLE without the running rings", SET_MEM_TABLE, Setup.Running,
            f => MemTable(1, 0, Shifted(f.Ram.Regions[0].Description, 1UL << 40)), Fds: 1);

        // Ring configuration (docs/spec/virtqueue.md §7.1).
        yield return new("SET_VRING_NUM 3", SET_VRING_NUM, Setup.Connected, _ => State(0, 3));
        yield return new("SET_VRING_NUM 0", SET_VRING_NUM, Setup.Connected, _ => State(0, 0));
        yield return new("SET_VRING_NUM 2048 (above the device maximum)", SET_VRING_NUM, Setup.Connected, _ => State(0, 2048));
        yield return new("SET_VRING_NUM 65536", SET_VRING_NUM, Setup.Connected, _ => State(0, 65536));
        yield return new("SET_VRING_NUM on a running ring", SET_VRING_NUM, Setup.Running, _ => State(0, 64));
        yield return new("SET_VRING_BASE above 65535", SET_VRING_BASE, Setup.Stopped, _ => State(0, 0x10000));
        yield return new("SET_VRING_ADDR outside memory", SET_VRING_ADDR, Setup.Stopped, f => Addr(f, desc: 0x1000));
        yield return new("SET_VRING_ADDR past the end of a region", SET_VRING_ADDR, Setup.Stopped,
            f => Addr(f, desc: f.Ram.Regions[0].Description.UserspaceAddr + f.Ram.Regions[0].Size - 16));
        yield return new("SET_VRING_ADDR with a misaligned descriptor table", SET_VRING_ADDR, Setup.Stopped, f => Addr(f, descDelta: 8));
        yield return new("SET_VRING_ADDR with a misaligned used ring", SET_VRING_ADDR, Setup.Stopped, f => Addr(f, usedDelta: 2));
        yield return new("SET_VRING_ADDR with a misaligned avail ring", SET_VRING_ADDR, Setup.Stopped, f => Addr(f, availDelta: 1));
        yield return new("SET_VRING_ADDR outside memory on a running ring", SET_VRING_ADDR, Setup.Running, f => Addr(f, desc: 0x1000));
        yield return new("SET_VRING_ADDR misaligned on a running ring", SET_VRING_ADDR, Setup.Running, f => Addr(f, usedDelta: 2));
        yield return new("SET_VRING_ADDR with the log flag", SET_VRING_ADDR, Setup.Stopped, f => Addr(f, flags: 1));
        yield return new("SET_VRING_ADDR with unknown flags", SET_VRING_ADDR, Setup.Stopped, f => Addr(f, flags: 2));

        // Ring index out of range.
        yield return new("SET_VRING_NUM for ring 2", SET_VRING_NUM, Setup.Connected, _ => State(2, 64));
        yield return new("SET_VRING_BASE for ring 200", SET_VRING_BASE, Setup.Connected, _ => State(200, 0));
        yield return new("SET_VRING_ADDR for ring 2", SET_VRING_ADDR, Setup.Stopped, f => Addr(f, index: 2));
        yield return new("SET_VRING_KICK for ring 2", SET_VRING_KICK, Setup.Connected, _ => U64(2), Fds: 1);
        yield return new("SET_VRING_CALL for ring 255", SET_VRING_CALL, Setup.Connected, _ => U64(255), Fds: 1);
        yield return new("SET_VRING_ERR for ring 2 without fd", SET_VRING_ERR, Setup.Connected, _ => U64(0x102));
        yield return new("SET_VRING_KICK with reserved bits", SET_VRING_KICK, Setup.Connected, _ => U64(0x200), Fds: 1);
        yield return new("SET_VRING_ENABLE for ring 2", SET_VRING_ENABLE, Setup.Running, _ => State(2, 1));
        yield return new("GET_VRING_BASE for ring 2", GET_VRING_BASE, Setup.Running, _ => State(2, 0), HasOwnReply: true);

        // Values out of range.
        yield return new("SET_FEATURES with bit 0, never offered", SET_FEATURES, Setup.Connected, _ => U64(Sessions.Features() | 1));
        yield return new("SET_FEATURES with RING_PACKED, never offered", SET_FEATURES, Setup.Connected, _ => U64(Sessions.Features() | (1UL << 34)));
        yield return new("SET_PROTOCOL_FEATURES with INBAND_NOTIFICATIONS", SET_PROTOCOL_FEATURES, Setup.Connected,
            f => U64((ulong)(f.AckedProtocolFeatures | ProtocolFeatures.INBAND_NOTIFICATIONS)));
        yield return new("SET_VRING_ENABLE with num 2", SET_VRING_ENABLE, Setup.Running, _ => State(0, 2));
        yield return new("GET_CONFIG of 300 bytes", GET_CONFIG, Setup.Connected, _ => Config(0, 300, 300), HasOwnReply: true);
        yield return new("GET_CONFIG past byte 256", GET_CONFIG, Setup.Connected, _ => Config(250, 10, 10), HasOwnReply: true);
        yield return new("SET_CONFIG of 300 bytes", SET_CONFIG, Setup.Connected, _ => Config(0, 300, 300));
        yield return new("SET_STATUS wider than a byte", SET_STATUS, Setup.Connected, _ => U64(0x100));

        // Requests whose protocol feature was not negotiated (or is never offered).
        yield return new("GET_CONFIG without CONFIG", GET_CONFIG, Setup.NoConfig, _ => Config(0, 4, 4), HasOwnReply: true);
        yield return new("SET_CONFIG without CONFIG", SET_CONFIG, Setup.NoConfig, _ => Config(0, 1, 1));
        yield return new("GET_STATUS without STATUS", GET_STATUS, Setup.NoStatus, _ => Bytes(0), HasOwnReply: true);
        yield return new("SET_STATUS without STATUS", SET_STATUS, Setup.NoStatus, _ => U64(0xF));
        yield return new("GET_MAX_MEM_SLOTS without CONFIGURE_MEM_SLOTS", GET_MAX_MEM_SLOTS, Setup.NoMemSlots, _ => Bytes(0), HasOwnReply: true);
        yield return new("ADD_MEM_REG without CONFIGURE_MEM_SLOTS", ADD_MEM_REG, Setup.NoMemSlots,
            f => Of(new SingleMemoryRegion(0, Shifted(f.Ram.Regions[0].Description, 1UL << 40))), Fds: 1);
        yield return new("REM_MEM_REG without CONFIGURE_MEM_SLOTS", REM_MEM_REG, Setup.NoMemSlots, f => Of(new SingleMemoryRegion(0, f.Ram.Regions[0].Description)));
        yield return new("RESET_DEVICE without RESET_DEVICE", RESET_DEVICE, Setup.NoResetDevice, _ => Bytes(0));
        yield return new("SET_BACKEND_REQ_FD without BACKEND_REQ", SET_BACKEND_REQ_FD, Setup.NoBackendReq, _ => Bytes(0), Fds: 1);
        yield return new("GET_QUEUE_NUM without MQ", GET_QUEUE_NUM, Setup.NoMq, _ => Bytes(0), HasOwnReply: true);
        yield return new("SET_LOG_BASE (never offered)", SET_LOG_BASE, Setup.Connected, _ => Bytes(16), Fds: 1, HasOwnReply: true);
        yield return new("SET_VRING_ENDIAN (never offered)", SET_VRING_ENDIAN, Setup.Connected, _ => State(0, 0));
        yield return new("VRING_KICK (never offered)", VRING_KICK, Setup.Running, _ => State(0, 0));
        yield return new("SET_INFLIGHT_FD (never offered)", SET_INFLIGHT_FD, Setup.Connected, _ => Bytes(24), Fds: 1);
    }

    private static MemoryRegion Shifted(MemoryRegion region, ulong by) =>
        region with { GuestPhysAddr = region.GuestPhysAddr + by, UserspaceAddr = region.UserspaceAddr + by };

    private static MemoryRegion[] NineRegions(Frontend.VirtioFrontend f)
    {
        // Nine small, disjoint, valid regions of the same memfd.
        var first = f.Ram.Regions[0].Description;
        var regions = new MemoryRegion[9];
        for (ulong i = 0; i < 9; i++)
            regions[i] = new MemoryRegion(first.GuestPhysAddr + i * Page, Page, first.UserspaceAddr + i * Page, i * Page);
        return regions;
    }
}
