namespace VhostDeviceCan.VirtioCanWire;

/// <summary>
/// The outcome of encoding one host frame for the Rxq. Everything but <see cref="Ok"/> means
/// the frame is dropped (and counted); nothing was written (docs/spec/virtio-can.md §9). Values are listed in
/// the order <see cref="RxFrameEncoder"/> checks them.
/// </summary>
public enum RxVerdict
{
    Ok = 0,
    /// <summary>An error frame (CAN_ERR_FLAG): never forwarded; bus-off goes to config <c>status</c> (docs/spec/virtio-can.md §6).</summary>
    ErrorFrame,
    /// <summary>An FD frame, but the driver did not negotiate <c>VIRTIO_CAN_F_CAN_FD</c> (docs/spec/virtio-can.md §9).</summary>
    FdNotNegotiated,
    /// <summary>A classic frame, but the driver did not negotiate <c>VIRTIO_CAN_F_CAN_CLASSIC</c>.</summary>
    ClassicNotNegotiated,
    /// <summary>A remote frame, but the driver did not negotiate <c>VIRTIO_CAN_F_RTR_FRAMES</c> (docs/spec/virtio-can.md §9).</summary>
    RtrNotNegotiated,
    /// <summary>A remote FD frame, which CAN FD does not have.</summary>
    RtrWithFd,
    /// <summary><c>len</c> above 8 (classic, RTR) or 64 (FD): a broken transport, not a bus frame.</summary>
    LengthOutOfRange,
    /// <summary>A standard frame whose ID does not fit 11 bits.</summary>
    IdOutOfRange,
    /// <summary>The guest buffer is shorter than 16 + length; the buffer goes back with used len 0 (docs/spec/virtio-can.md §9).</summary>
    BufferTooSmall,
}
