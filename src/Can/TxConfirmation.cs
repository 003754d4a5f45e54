namespace VhostDeviceCan.Can;

/// <summary>
/// When a transport knows that a frame really went out on the bus, which decides how the device
/// implements <c>VIRTIO_CAN_F_LATE_TX_ACK</c> (docs/spec/virtio-can.md §8.4).
/// </summary>
public enum TxConfirmation
{
    /// <summary>The transport cannot tell: the device must not offer LATE_TX_ACK.</summary>
    None = 0,
    /// <summary>
    /// <see cref="TransmitStatus.Sent"/> already means "on the bus" (the virtual bus, where
    /// publishing is the transmission): a late-acknowledged request completes at once.
    /// </summary>
    AtTransmit,
    /// <summary>
    /// Confirmations arrive later through <see cref="ICanTransport.Receive"/>'s
    /// <c>confirmedTransmissions</c>, one per sent frame, in send order (SocketCAN with
    /// <c>CAN_RAW_RECV_OWN_MSGS</c>: own frames come back flagged <c>MSG_CONFIRM</c>).
    /// </summary>
    Deferred,
}
