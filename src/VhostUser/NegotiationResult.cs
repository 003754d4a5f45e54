using VhostDeviceCan.Interop;

namespace VhostDeviceCan.VhostUser;

/// <summary>What <see cref="VhostUserFrontend.NegotiateLikeQemu"/> negotiated, and the fds it created.</summary>
public sealed class NegotiationResult : IDisposable
{
    /// <summary>GET_FEATURES before anything else.</summary>
    public ulong OfferedFeatures { get; internal set; }

    /// <summary>GET_FEATURES after SET_OWNER (QEMU asks again in vhost_dev_init).</summary>
    public ulong OfferedFeaturesAfterOwner { get; internal set; }

    /// <summary>Offered ∩ wanted, without bit 30: what a guest driver would ack.</summary>
    public ulong AckedFeatures { get; internal set; }

    public ProtocolFeatures OfferedProtocolFeatures { get; internal set; }
    public ProtocolFeatures AckedProtocolFeatures { get; internal set; }

    /// <summary>GET_QUEUE_NUM with MQ, else 1 (QEMU's max_queues).</summary>
    public ulong QueueNum { get; internal set; } = 1;

    /// <summary>GET_MAX_MEM_SLOTS with CONFIGURE_MEM_SLOTS, else 8 (VHOST_MEMORY_BASELINE_NREGIONS).</summary>
    public ulong MaxMemSlots { get; internal set; } = MemoryTableHeader.MaxRegions;

    /// <summary>The front-end end of the back-end request channel, when BACKEND_REQ was negotiated.</summary>
    public UnixSocket? BackendChannel { get; internal set; }

    /// <summary>Per queue, the eventfd sent with SET_VRING_CALL (QEMU's masked notifier).</summary>
    public List<EventFd> CallNotifiers { get; } = [];

    /// <summary>Per queue, the eventfd sent with SET_VRING_ERR.</summary>
    public List<EventFd> ErrNotifiers { get; } = [];

    /// <summary>The word QEMU sends with SET_FEATURES at start: acked bits plus bit 30 if it was offered.</summary>
    public ulong FeaturesToSet => AckedFeatures
        | (OfferedFeatures & VirtioFeatures.Bit(VirtioFeatures.VHOST_USER_F_PROTOCOL_FEATURES));

    /// <summary>Takes the back-end channel out of this result, so disposing the result leaves it open.</summary>
    public UnixSocket? TakeBackendChannel()
    {
        var channel = BackendChannel;
        BackendChannel = null;
        return channel;
    }

    public void Dispose()
    {
        BackendChannel?.Dispose();
        BackendChannel = null;
        foreach (var fd in CallNotifiers) fd.Dispose();
        foreach (var fd in ErrNotifiers) fd.Dispose();
        CallNotifiers.Clear();
        ErrNotifiers.Clear();
    }
}
