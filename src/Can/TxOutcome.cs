namespace VhostDeviceCan.Can;

/// <summary>
/// What became of one transmission with <see cref="TxConfirmation.Deferred"/>: its frame went
/// out on the bus (<see cref="Confirmed"/>), or the transport knows it never will (dropped from
/// the interface queue, the interface went away).
/// </summary>
public readonly record struct TxOutcome(TxTag Tag, bool Confirmed);
