using VhostDeviceCan.Can;
using VhostDeviceCan.Frontend;
using VhostDeviceCan.VhostUser;
using VhostDeviceCan.VirtioCanWire;

namespace VhostDeviceCan.Guest;

/// <summary>What the simulated guest driver asks for.</summary>
public sealed record VirtioCanGuestOptions
{
    /// <summary>virtio-can feature bits the driver accepts (it acks the intersection with the offer).
    /// Like the Linux driver: all four.</summary>
    public ulong CanFeatures { get; init; } =
        VirtioFeatures.Bit(VirtioCan.VIRTIO_CAN_F_CAN_CLASSIC) | VirtioFeatures.Bit(VirtioCan.VIRTIO_CAN_F_CAN_FD)
        | VirtioFeatures.Bit(VirtioCan.VIRTIO_CAN_F_RTR_FRAMES) | VirtioFeatures.Bit(VirtioCan.VIRTIO_CAN_F_LATE_TX_ACK);

    public bool EventIdx { get; init; } = true;
    public bool IndirectDescriptors { get; init; } = true;

    /// <summary>Ring size of each queue; QEMU's generic device defaults to 64.</summary>
    public ushort QueueSize { get; init; } = 64;

    /// <summary>Post Rxq buffers at start, as the Linux driver does at probe. False makes a guest
    /// that never takes frames (for tests of a stalled guest).</summary>
    public bool PostRxBuffers { get; init; } = true;

    /// <summary>How the simulated VMM seals guest RAM (QEMU's default: sealed).</summary>
    public GuestRamSealing MemorySealing { get; init; } = GuestRamSealing.Sealed;

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);
}
