using VhostDeviceCan.Backend;
using VhostDeviceCan.Can;
using VhostDeviceCan.VirtioCanWire;
using VhostDeviceCan.Device;
using VhostDeviceCan.VhostUser;
using static VhostDeviceCan.VhostUser.FrontendRequest;

namespace VhostDeviceCan.Fuzz;

/// <summary>
/// Sessions for <see cref="VhostUserTarget"/>: a full one that starts the controller, sends and
/// receives a frame, then the setups and malformed requests of the Backend unit tests
/// (BadMessages) and the memory, config and status requests of the other Backend tests.
/// </summary>
internal static class VhostUserSeeds
{
    private const ulong Uva = 0x7f00_0000_0000;
    private const uint NeedReply = MessageHeader.Version | MessageHeader.NeedReplyFlag;
    private static readonly MemoryRegion Ram = new(0, VhostUserTarget.RamFileSize, Uva, 0);

    public static IEnumerable<(string Name, byte[] Bytes)> All()
    {
        yield return ("full-session", Seed(GuestRam(), [.. Running(), .. Traffic(), .. Stop()]));
        yield return ("full-session-need-reply", Seed(GuestRam(), [.. Running(NeedReply), .. Traffic(), .. Stop()]));
        yield return ("memory-hotplug", Seed(GuestRam(), [.. Connected(), Msg(ADD_MEM_REG, Single(Ram)),
            Msg(ADD_MEM_REG, Single(Ram with { GuestPhysAddr = 1UL << 40, UserspaceAddr = Uva + (1UL << 40) })),
            Msg(REM_MEM_REG, Single(Ram)), Msg(GET_MAX_MEM_SLOTS, [])]));
        yield return ("config-and-status", Seed([], [.. Connected(), Msg(GET_CONFIG, Config(0, 2)), Msg(SET_CONFIG, Config(0, 2)),
            Msg(SET_STATUS, U64(0xF)), Msg(GET_STATUS, []), Msg(GET_QUEUE_NUM, []), Msg(RESET_DEVICE, [])]));
        yield return ("backend-channel", Seed(GuestRam(), [.. Running(), Msg(SET_BACKEND_REQ_FD, []), .. Traffic(), Msg(RESET_OWNER, [])]));

        // Malformed requests after a connected or running setup (Backend.Tests BadMessages).
        (string Name, byte[][] Setup, byte[] Message)[] bad =
        [
            ("get-features-8-bytes", Connected(), Msg(GET_FEATURES, new byte[8])),
            ("set-features-4-bytes", Connected(), Msg(SET_FEATURES, new byte[4])),
            ("mem-table-39-bytes", Connected(), Msg(SET_MEM_TABLE, MemTable(1, 0, Ram)[..39])),
            ("mem-table-9-regions", Connected(), Msg(SET_MEM_TABLE, MemTable(9, 0, [.. Enumerable.Range(0, 9).Select(i => new MemoryRegion((ulong)i << 12, 4096, Uva + ((ulong)i << 12), (ulong)i << 12))]))),
            ("mem-table-wraps", Running(), Msg(SET_MEM_TABLE, MemTable(1, 0, Ram with { GuestPhysAddr = ulong.MaxValue - 4095, MemorySize = 8192 }))),
            ("mem-table-past-file", Running(), Msg(SET_MEM_TABLE, MemTable(1, 0, Ram with { MmapOffset = 4096 }))),
            ("mem-table-overlap", Running(), Msg(SET_MEM_TABLE, MemTable(2, 0, Ram, Ram))),
            ("mem-table-without-rings", Running(), Msg(SET_MEM_TABLE, MemTable(1, 0, Ram with { GuestPhysAddr = 1UL << 40, UserspaceAddr = 1UL << 41 }))),
            ("vring-num-3", Connected(), Msg(SET_VRING_NUM, State(0, 3))),
            ("vring-num-running", Running(), Msg(SET_VRING_NUM, State(0, 64))),
            ("vring-base-too-big", Connected(), Msg(SET_VRING_BASE, State(0, 0x10000))),
            ("vring-addr-outside", Running(), Msg(SET_VRING_ADDR, Addr(0, 0x1000, Uva + 0x80, Uva + 0x100))),
            ("vring-addr-misaligned", Running(), Msg(SET_VRING_ADDR, Addr(0, Uva + 8, Uva + 0x80, Uva + 0x100))),
            ("vring-addr-log-flag", Running(), Msg(SET_VRING_ADDR, Addr(0, Uva, Uva + 0x80, Uva + 0x100, flags: 1))),
            ("vring-kick-ring-2", Connected(), Msg(SET_VRING_KICK, U64(2))),
            ("vring-kick-reserved-bits", Connected(), Msg(SET_VRING_KICK, U64(0x200))),
            ("vring-call-no-fd", Connected(), Msg(SET_VRING_CALL, U64(0x100))),
            ("vring-kick-two-fds", Running(), Msg(SET_VRING_KICK, U64(0), flags: MessageHeader.Version | (2u << 28))),
            ("vring-enable-2", Running(), Msg(SET_VRING_ENABLE, State(0, 2))),
            ("get-vring-base-ring-200", Running(), Msg(GET_VRING_BASE, State(200, 0))),
            ("features-not-offered", Connected(), Msg(SET_FEATURES, U64(1))),
            ("get-config-300", Connected(), Msg(GET_CONFIG, Config(0, 300))),
            ("set-config-past-256", Connected(), Msg(SET_CONFIG, Config(250, 10))),
            ("set-status-wide", Connected(), Msg(SET_STATUS, U64(0x100))),
            ("set-log-base", Connected(), Msg(SET_LOG_BASE, new byte[16])),
            ("unknown-request", Connected(), Msg((FrontendRequest)99, [])),
            ("bad-header-flags", Connected(), Msg(GET_FEATURES, [], flags: 0x10)),
            ("oversized", Connected(), Header(SET_CONFIG, 1, 5000)),
            ("truncated-payload", Connected(), Header(SET_FEATURES, 1, 8)),
            ("wrong-fd-count", Connected(), Msg(SET_OWNER, [], flags: MessageHeader.Version | (3u << 28))),
        ];
        foreach (var (name, setup, message) in bad) yield return (name, Seed([], [.. setup, message]));
    }

    private static byte[] Seed(byte[] ram, byte[][] messages) =>
        [.. BitConverter.GetBytes((ushort)ram.Length), .. ram, .. messages.SelectMany(m => m)];

    private static ulong Features()
    {
        using var device = new CanDevice(new VirtualCanBus("fuzz-seeds").Join());
        return device.Features | (1UL << VirtioFeatures.VHOST_USER_F_PROTOCOL_FEATURES);
    }

    private static byte[][] Connected(uint flags = MessageHeader.Version) =>
    [
        Msg(SET_OWNER, []), Msg(GET_FEATURES, []), Msg(GET_PROTOCOL_FEATURES, []),
        Msg(SET_PROTOCOL_FEATURES, U64((ulong)BackendSession.OfferedProtocolFeatures), flags: flags),
        Msg(SET_FEATURES, U64(Features()), flags: flags),
    ];

    /// <summary>Every ring at RAM offset ring * 0x400: descriptors, avail at +0x80, used at +0x100.
    /// Controlq first, so its START is handled before the Txq request is.</summary>
    private static byte[][] Running(uint flags = MessageHeader.Version)
    {
        var messages = new List<byte[]>(Connected(flags)) { Msg(SET_MEM_TABLE, MemTable(1, 0, Ram), flags: flags) };
        for (uint ring = VirtioCan.QueueCount - 1; ring < VirtioCan.QueueCount; ring--)
        {
            ulong at = Uva + ring * 0x400;
            messages.Add(Msg(SET_VRING_NUM, State(ring, 8), flags: flags));
            messages.Add(Msg(SET_VRING_BASE, State(ring, 0), flags: flags));
            messages.Add(Msg(SET_VRING_ADDR, Addr(ring, at, at + 0x80, at + 0x100), flags: flags));
            messages.Add(Msg(SET_VRING_KICK, U64(ring), flags: flags));
            messages.Add(Msg(SET_VRING_CALL, U64(ring), flags: flags));
            messages.Add(Msg(SET_VRING_ENABLE, State(ring, 1), flags: flags));
        }
        return [.. messages];
    }

    /// <summary>Start the controller, send a frame, receive one from the bus.</summary>
    private static byte[][] Traffic() =>
    [
        Header((FrontendRequest)(VhostUserTarget.KickRequest + VirtioCan.ControlQueue), 0, 0),
        Header((FrontendRequest)(VhostUserTarget.KickRequest + VirtioCan.TxQueue), 0, 0),
        Msg((FrontendRequest)VhostUserTarget.BusFrameRequest, [0, 0x23, 0x01, 0, 0, 0xDE, 0xAD]),
        Msg((FrontendRequest)VhostUserTarget.BusFrameRequest, [3, 0x78, 0x56, 0x34, 0x12, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    ];

    private static byte[][] Stop() =>
        [.. Enumerable.Range(0, VirtioCan.QueueCount).Select(ring => Msg(GET_VRING_BASE, State((uint)ring, 0)))];

    /// <summary>Guest RAM with a Txq request (0x2000, status 0x2100), an Rxq buffer (0x3000) and a
    /// START control request (0x4000, result 0x4100), each offered at avail.ring[0].</summary>
    private static byte[] GuestRam()
    {
        var ram = new byte[0x4200];
        void Descriptor(int ring, int index, ulong gpa, uint length, ushort flags, ushort next)
        {
            var d = ram.AsSpan(ring * 0x400 + index * 16);
            BitConverter.TryWriteBytes(d, gpa);
            BitConverter.TryWriteBytes(d[8..], length);
            BitConverter.TryWriteBytes(d[12..], flags);
            BitConverter.TryWriteBytes(d[14..], next);
            BitConverter.TryWriteBytes(ram.AsSpan(ring * 0x400 + 0x80 + 2), (ushort)1); // avail.idx; avail.ring[0] = 0
        }
        Seeds.Hex("0100 0400 00 00 0000 00000000 23010000 DEADBEEF").CopyTo(ram, 0x2000);
        Descriptor(VirtioCan.TxQueue, 0, 0x2000, 20, 1, 1);
        Descriptor(VirtioCan.TxQueue, 1, 0x2100, 1, 2, 0);
        Descriptor(VirtioCan.RxQueue, 0, 0x3000, 80, 2, 0);
        BitConverter.TryWriteBytes(ram.AsSpan(0x4000), VirtioCan.VIRTIO_CAN_SET_CTRL_MODE_START);
        Descriptor(VirtioCan.ControlQueue, 0, 0x4000, 2, 1, 1);
        Descriptor(VirtioCan.ControlQueue, 1, 0x4100, 1, 2, 0);
        return ram;
    }

    private static byte[] Msg(FrontendRequest request, byte[] payload, uint flags = MessageHeader.Version) =>
        [.. Header(request, flags, (uint)payload.Length), .. payload];

    private static byte[] Header(FrontendRequest request, uint flags, uint size) =>
        [.. BitConverter.GetBytes((uint)request), .. BitConverter.GetBytes(flags), .. BitConverter.GetBytes(size)];

    private static byte[] U64(ulong value) => BitConverter.GetBytes(value);

    private static byte[] State(uint index, uint num) => [.. BitConverter.GetBytes(index), .. BitConverter.GetBytes(num)];

    private static byte[] Addr(uint index, ulong desc, ulong avail, ulong used, uint flags = 0) =>
        Of(new VringAddress(index, flags, desc, used, avail, 0));

    private static byte[] Single(MemoryRegion region) => Of(new SingleMemoryRegion(0, region));

    private static byte[] Config(uint offset, uint size) => [.. Of(new ConfigHeader(offset, size, 0)), .. new byte[size]];

    private static byte[] MemTable(uint count, uint padding, params MemoryRegion[] regions)
    {
        var bytes = new byte[MemoryTableHeader.PayloadLength(regions.Length)];
        Payload.Write(bytes, new MemoryTableHeader(count, padding));
        for (int i = 0; i < regions.Length; i++) Payload.Write(bytes.AsSpan(MemoryTableHeader.PayloadLength(i)), regions[i]);
        return bytes;
    }

    private static byte[] Of<T>(T value) where T : unmanaged
    {
        var bytes = new byte[System.Runtime.CompilerServices.Unsafe.SizeOf<T>()];
        Payload.Write(bytes, value);
        return bytes;
    }
}
