namespace VhostDeviceCan.Can;

/// <summary>
/// Names one transmission for its confirmation: the device gives each frame a tag when it hands
/// it to <see cref="ICanTransport.Transmit"/>, and the transport reports that tag back in a
/// <see cref="TxOutcome"/>. Opaque to the transport, which only stores and returns it. A value
/// type, so tagging a frame allocates nothing.
/// </summary>
public readonly record struct TxTag(ulong Value)
{
    public override string ToString() => $"tx#{Value:x}";
}
