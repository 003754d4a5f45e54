using VhostDeviceCan.VhostUser;

namespace VhostDeviceCan.VirtioCanWire;

/// <summary>
/// Constants of the virtio CAN device (virtio 1.4 "CAN Device"; docs/spec/virtio-can.md). Names are the
/// spec's, so the code greps against it.
/// </summary>
public static class VirtioCan
{
    public const uint DeviceId = 36;

    public const int QueueCount = 3;
    public const int TxQueue = 0;
    public const int RxQueue = 1;
    public const int ControlQueue = 2;

    // Feature bit numbers, as in the spec (docs/spec/virtio-can.md §2); test and set them with
    // VirtioFeatures.Has and VirtioFeatures.Bit, which serve every feature word. Drivers up to v5 and the Rust
    // reference's 0.1.0 swapped bits 2 and 3; the spec, Linux v15 and Rust HEAD use these.
    public const int VIRTIO_CAN_F_CAN_CLASSIC = 0;
    public const int VIRTIO_CAN_F_CAN_FD = 1;
    /// <summary>Remote frames, classic only; requires <see cref="VIRTIO_CAN_F_CAN_CLASSIC"/>.</summary>
    public const int VIRTIO_CAN_F_RTR_FRAMES = 2;
    public const int VIRTIO_CAN_F_LATE_TX_ACK = 3;

    // msg_type values (docs/spec/virtio-can.md §4).
    public const ushort VIRTIO_CAN_TX = 0x0001;
    public const ushort VIRTIO_CAN_RX = 0x0101;
    public const ushort VIRTIO_CAN_SET_CTRL_MODE_START = 0x0201;
    public const ushort VIRTIO_CAN_SET_CTRL_MODE_STOP = 0x0202;

    // Result byte. The driver treats anything but OK as NOT_OK (spec "Device Operation").
    public const byte VIRTIO_CAN_RESULT_OK = 0;
    public const byte VIRTIO_CAN_RESULT_NOT_OK = 1;

    // Header flags (docs/spec/virtio-can.md §4). Everything outside FlagsMask is undefined and rejected on TX (docs/spec/virtio-can.md §8.2).
    public const uint VIRTIO_CAN_FLAGS_EXTENDED = 0x8000;
    public const uint VIRTIO_CAN_FLAGS_FD = 0x4000;
    public const uint VIRTIO_CAN_FLAGS_RTR = 0x2000;
    public const uint FlagsMask = VIRTIO_CAN_FLAGS_EXTENDED | VIRTIO_CAN_FLAGS_FD | VIRTIO_CAN_FLAGS_RTR;

    /// <summary>Config <c>status</c> bit 0. The Rust reference used the value 2 (docs/spec/virtio-can.md §10.5).</summary>
    public const ushort VIRTIO_CAN_S_CTRL_BUSOFF = 0x0001;
    /// <summary><c>struct virtio_can_config</c> is one le16; reads beyond it return zeros (docs/spec/virtio-can.md §3).</summary>
    public const int ConfigLength = 2;

    /// <summary>Size of <c>virtio_can_tx_out</c> / <c>virtio_can_rx</c> without <c>sdu[]</c> (docs/spec/virtio-can.md §5).</summary>
    public const int HeaderLength = 16;
    public const int MaxClassicPayload = 8;
    public const int MaxFdPayload = 64;

    /// <summary>
    /// The most readable bytes a valid Txq request can need (header + 64). A queue that gathers a
    /// split readable part into a buffer needs at most this many bytes for the decoder.
    /// </summary>
    public const int MaxTxRequestLength = HeaderLength + MaxFdPayload;

    /// <summary>The Rxq buffer the Linux driver posts: 16 + 64 with FD, 16 + 8 without (docs/spec/linux-driver.md §1).</summary>
    public static int RxBufferLength(ulong features) =>
        HeaderLength + (VirtioFeatures.Has(features, VIRTIO_CAN_F_CAN_FD) ? MaxFdPayload : MaxClassicPayload);

    public const int TxResultLength = 1;
    public const int ControlRequestLength = 2;
    public const int ControlResultLength = 1;
}
