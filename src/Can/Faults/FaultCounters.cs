namespace VhostDeviceCan.Can.Faults;

/// <summary>What the fault layer of one guest has done since it was created, at one moment.</summary>
public readonly record struct FaultCounts(
    long TxRefused, long TxDropped, long TxBitFlipped, long TxDuplicated, long TxDelayed,
    long RxDropped, long RxBitFlipped, long RxDuplicated, long RxDelayed,
    long BusOffs, long Recoveries, long LostWhileBusOff)
{
    public long Total => TxRefused + TxDropped + TxBitFlipped + TxDuplicated + TxDelayed
        + RxDropped + RxBitFlipped + RxDuplicated + RxDelayed + BusOffs;

    public override string ToString() =>
        $"tx refused {TxRefused}, dropped {TxDropped}, bit-flipped {TxBitFlipped}, duplicated {TxDuplicated}, delayed {TxDelayed}; "
        + $"rx dropped {RxDropped}, bit-flipped {RxBitFlipped}, duplicated {RxDuplicated}, delayed {RxDelayed}; "
        + $"bus-offs {BusOffs}, recoveries {Recoveries}, frames lost while bus-off {LostWhileBusOff}";
}

/// <summary>Written by the device loop's thread only (plain increments published with
/// <see cref="Volatile"/>); read from any thread through <see cref="Snapshot"/>.</summary>
internal sealed class FaultCounters
{
    public long TxRefused, TxDropped, TxBitFlipped, TxDuplicated, TxDelayed;
    public long RxDropped, RxBitFlipped, RxDuplicated, RxDelayed;
    public long BusOffs, Recoveries, LostWhileBusOff;

    /// <summary>The owner's increment: one writer, so a volatile read-modify-write is enough for readers elsewhere.</summary>
    public static void Add(ref long counter, long value = 1) => Volatile.Write(ref counter, counter + value);

    public FaultCounts Snapshot() => new(
        Volatile.Read(ref TxRefused), Volatile.Read(ref TxDropped), Volatile.Read(ref TxBitFlipped), Volatile.Read(ref TxDuplicated),
        Volatile.Read(ref TxDelayed), Volatile.Read(ref RxDropped), Volatile.Read(ref RxBitFlipped), Volatile.Read(ref RxDuplicated),
        Volatile.Read(ref RxDelayed), Volatile.Read(ref BusOffs), Volatile.Read(ref Recoveries), Volatile.Read(ref LostWhileBusOff));
}
