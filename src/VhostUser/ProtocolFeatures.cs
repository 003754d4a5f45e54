namespace VhostDeviceCan.VhostUser;

/// <summary>vhost-user protocol feature bits (GET/SET_PROTOCOL_FEATURES).</summary>
[Flags]
public enum ProtocolFeatures : ulong
{
    None = 0,
    MQ = 1UL << 0,
    LOG_SHMFD = 1UL << 1,
    RARP = 1UL << 2,
    REPLY_ACK = 1UL << 3,
    MTU = 1UL << 4,
    BACKEND_REQ = 1UL << 5,
    CROSS_ENDIAN = 1UL << 6,
    CRYPTO_SESSION = 1UL << 7,
    PAGEFAULT = 1UL << 8,
    CONFIG = 1UL << 9,
    BACKEND_SEND_FD = 1UL << 10,
    HOST_NOTIFIER = 1UL << 11,
    INFLIGHT_SHMFD = 1UL << 12,
    RESET_DEVICE = 1UL << 13,
    INBAND_NOTIFICATIONS = 1UL << 14,
    CONFIGURE_MEM_SLOTS = 1UL << 15,
    STATUS = 1UL << 16,
}

/// <summary>Transport-level virtio feature bits a vhost-user back-end deals with.</summary>
public static class VirtioFeatures
{
    public const int VIRTIO_RING_F_INDIRECT_DESC = 28;
    public const int VIRTIO_RING_F_EVENT_IDX = 29;
    /// <summary>Not a virtio bit: vhost-user borrows bit 30 to announce protocol features.</summary>
    public const int VHOST_USER_F_PROTOCOL_FEATURES = 30;
    public const int VIRTIO_F_VERSION_1 = 32;

    public static ulong Bit(int bit) => 1UL << bit;
    public static bool Has(ulong features, int bit) => (features & (1UL << bit)) != 0;
}

/// <summary>virtio device status bits (docs/spec/virtqueue.md §10), carried by SET/GET_STATUS.</summary>
public static class DeviceStatus
{
    public const byte ACKNOWLEDGE = 1;
    public const byte DRIVER = 2;
    public const byte DRIVER_OK = 4;
    public const byte FEATURES_OK = 8;
    public const byte DEVICE_NEEDS_RESET = 64;
    public const byte FAILED = 128;
}
