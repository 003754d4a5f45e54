namespace VhostDeviceCan.Backend;

/// <summary>
/// What a device implements to be served over vhost-user. The runtime owns the socket, memory,
/// rings and event loop; the device sees only queues, features, config and its own fds.
/// Every call comes from the one event-loop thread of the device's socket, so a device needs no locks.
/// </summary>
public interface IVhostUserDevice
{
    /// <summary>Number of virtqueues (GET_QUEUE_NUM).</summary>
    int QueueCount { get; }

    /// <summary>Largest queue size accepted by SET_VRING_NUM (a power of two).</summary>
    ushort MaxQueueSize { get; }

    /// <summary>Virtio feature bits offered, device-specific and transport (VERSION_1, EVENT_IDX, ...).
    /// The runtime adds VHOST_USER_F_PROTOCOL_FEATURES.</summary>
    ulong Features { get; }

    /// <summary>Called once the runtime is ready, before any other call; the context stays valid
    /// for the device's lifetime (across front-end connections).</summary>
    void Attach(IDeviceContext context);

    /// <summary>The front-end acked these features (SET_FEATURES, without bit 30).</summary>
    void FeaturesAcked(ulong features);

    /// <summary>Fills <paramref name="destination"/> with config bytes from <paramref name="offset"/>;
    /// bytes beyond the device's config space must read as zero.</summary>
    void ReadConfig(uint offset, Span<byte> destination);

    /// <summary>A driver write to config space; false refuses it.</summary>
    bool WriteConfig(uint offset, ReadOnlySpan<byte> data);

    /// <summary>Queue <paramref name="index"/> is started and enabled: buffers may already wait in it.</summary>
    void QueueStarted(int index);

    /// <summary>The driver kicked a started, enabled queue.</summary>
    void QueueKicked(int index);

    /// <summary>Queue <paramref name="index"/> stops (GET_VRING_BASE or disable): complete every chain
    /// popped from it now, because the front-end resumes from the index the runtime reports next.</summary>
    void QueueStopping(int index);

    /// <summary>A device-registered fd is ready (see <see cref="IDeviceContext.RegisterFd"/>). If this
    /// throws, the runtime logs it, stops watching that fd and drops the front-end (resetting the
    /// device); the fd is watched again when the next front-end connects.</summary>
    void HandleEvent(ulong token, uint events);

    /// <summary>Virtio reset: all queues stopped, state back to the initial one, nothing stale kept.
    /// Called on SET_STATUS(0), RESET_DEVICE, RESET_OWNER, when every ring stopped, and on disconnect.</summary>
    void Reset();
}
