using VhostDeviceCan.VhostUser;

namespace VhostDeviceCan.Frontend;

/// <summary>What the simulated VMM and guest driver choose when they connect to a back-end.</summary>
public sealed class VirtioFrontendOptions
{
    /// <summary>Virtio feature bits the guest driver accepts; it acks the intersection with the offer.</summary>
    public ulong Features { get; init; } =
        VirtioFeatures.Bit(VirtioFeatures.VIRTIO_F_VERSION_1)
        | VirtioFeatures.Bit(VirtioFeatures.VIRTIO_RING_F_EVENT_IDX)
        | VirtioFeatures.Bit(VirtioFeatures.VIRTIO_RING_F_INDIRECT_DESC);

    /// <summary>Protocol features the VMM knows; QEMU's mask by default (docs/spec/vhost-user.md §4).</summary>
    public ProtocolFeatures ProtocolFeatures { get; init; } = VhostUserFrontend.QemuProtocolFeatures;

    /// <summary>Queues to set up (QEMU's num_vqs).</summary>
    public int QueueCount { get; init; } = 2;

    /// <summary>Ring size of every queue (QEMU's vq_size), a power of two.</summary>
    public ushort QueueSize { get; init; } = 256;

    /// <summary>Guest RAM in bytes, one memfd.</summary>
    public ulong MemorySize { get; init; } = 16 << 20;

    /// <summary>
    /// Cut the RAM into two regions of the same memfd at different file offsets, the low half at
    /// GPA 0 and the high half at <see cref="HighMemoryGpa"/>, as an x86 guest with a PCI hole gets
    /// (docs/spec/vhost-user.md §8).
    /// </summary>
    public bool SplitMemory { get; init; }

    /// <summary>Where the high half starts when <see cref="SplitMemory"/> is set (4 GiB, as on x86).</summary>
    public ulong HighMemoryGpa { get; init; } = 0x1_0000_0000;

    /// <summary>Size of each data buffer slot of a queue's <see cref="BufferPool"/>.</summary>
    public int BufferSize { get; init; } = 4096;

    /// <summary>Buffers per chain an indirect table can hold (one table slot per ring entry).</summary>
    public int MaxIndirectBuffers { get; init; } = 8;

    /// <summary>
    /// Send memory with ADD_MEM_REG when CONFIGURE_MEM_SLOTS is negotiated, as QEMU does; false
    /// always sends SET_MEM_TABLE.
    /// </summary>
    public bool UseAddMemReg { get; init; } = true;

    /// <summary>Create each kick eventfd holding 1, as QEMU's host notifier is (docs/spec/vhost-user.md §6).</summary>
    public bool PreSignalKick { get; init; } = true;

    /// <summary>How long <see cref="VirtioFrontend.Connect"/> retries while the socket does not exist yet.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Ask for an ack on every request, not only where QEMU does (see <see cref="VhostUserFrontend.AckEverything"/>).</summary>
    public bool AckEverything { get; init; }

    /// <summary>Longest wait for any reply (see <see cref="VhostUserFrontend.ReplyTimeout"/>).</summary>
    public TimeSpan ReplyTimeout { get; init; } = TimeSpan.FromSeconds(5);
}
