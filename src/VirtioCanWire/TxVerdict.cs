namespace VhostDeviceCan.VirtioCanWire;

/// <summary>
/// The outcome of decoding one Txq request. Everything but <see cref="Ok"/> is answered with
/// <c>VIRTIO_CAN_RESULT_NOT_OK</c> and never sent (docs/spec/virtio-can.md §8); the name says why, for
/// counters and debug logs. Values are listed in the order <see cref="TxRequestDecoder"/> checks them.
/// </summary>
public enum TxVerdict
{
    Ok = 0,
    /// <summary>Fewer than 16 readable bytes (docs/spec/virtio-can.md §8.6).</summary>
    TooShort,
    /// <summary><c>msg_type</c> is not <c>VIRTIO_CAN_TX</c> (docs/spec/virtio-can.md §8.5).</summary>
    BadMessageType,
    /// <summary>A flag bit outside 0xE000: treated like a non-negotiated frame type (docs/spec/virtio-can.md §8.2).</summary>
    UndefinedFlags,
    /// <summary>FD flag without <c>VIRTIO_CAN_F_CAN_FD</c> (docs/spec/virtio-can.md §8.1).</summary>
    FdNotNegotiated,
    /// <summary>A classic (non-FD) frame without <c>VIRTIO_CAN_F_CAN_CLASSIC</c> (docs/spec/virtio-can.md §8.1).</summary>
    ClassicNotNegotiated,
    /// <summary>RTR flag without <c>VIRTIO_CAN_F_RTR_FRAMES</c> (docs/spec/virtio-can.md §8.1).</summary>
    RtrNotNegotiated,
    /// <summary>RTR and FD together: remote frames are classic only (docs/spec/virtio-can.md §6).</summary>
    RtrWithFd,
    /// <summary><c>length</c> above 8 (classic, RTR) or 64 (FD) (docs/spec/virtio-can.md §8.3).</summary>
    LengthOutOfRange,
    /// <summary>The readable part ends before 16 + <c>length</c> (docs/spec/virtio-can.md §8.6).</summary>
    PayloadTruncated,
    /// <summary>Standard ID above 0x7FF, or bits 29..31 set (docs/spec/virtio-can.md §6).</summary>
    StandardIdOutOfRange,
    /// <summary>Extended ID above 0x1FFFFFFF (docs/spec/virtio-can.md §6).</summary>
    ExtendedIdOutOfRange,
}
