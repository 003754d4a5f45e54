using VhostDeviceCan.Can;

namespace VhostDeviceCan.Device;

/// <summary>Per-device choices; the defaults offer everything the transport can do.</summary>
public sealed record CanDeviceOptions
{
    /// <summary>Queue size limit for SET_VRING_NUM. QEMU's generic device defaults to 64.</summary>
    public ushort MaxQueueSize { get; init; } = 1024;

    /// <summary>Frames kept for a guest that has not posted Rxq buffers yet; more are dropped and counted.</summary>
    public int RxBacklogFrames { get; init; } = 1024;

    public bool OfferFd { get; init; } = true;

    /// <summary>Identifiers this guest may send; any other TX request is answered NOT_OK. Null: any.</summary>
    public CanIdFilter? TxFilter { get; init; }

    /// <summary>This guest's transmit budget; requests beyond it wait in the ring. Null: unlimited.</summary>
    public TxRate? TxRate { get; init; }

    /// <summary>Identifiers this guest receives; other frames on its bus never reach it. Null: all.</summary>
    public CanIdFilter? RxFilter { get; init; }
    public bool OfferRtr { get; init; } = true;
    public bool OfferLateTxAck { get; init; } = true;

    /// <summary>
    /// Delay of the extra Txq/Rxq interrupt after START (docs/spec/linux-driver.md §8.1: the Linux driver may
    /// have masked a queue's interrupt while NAPI was still off; a later interrupt rescues it).
    /// </summary>
    public TimeSpan StartResignalDelay { get; init; } = TimeSpan.FromMilliseconds(50);
}
