namespace VhostDeviceCan.Can.Faults;

/// <summary>One direction's decision state under one rule set: a random stream and a frame count
/// per fault kind, so each kind's choices depend only on the seed and the frames that reached it.</summary>
internal sealed class DirectionState
{
    private SplitMix64 _refuseRandom, _dropRandom, _flipRandom, _duplicateRandom, _delayRandom;
    private long _refuseSeen, _dropSeen, _flipSeen, _duplicateSeen;

    public DirectionState(ulong seed, int direction)
    {
        ulong stream = (ulong)direction * 8;
        _refuseRandom = SplitMix64.For(seed, stream + 1);
        _dropRandom = SplitMix64.For(seed, stream + 2);
        _flipRandom = SplitMix64.For(seed, stream + 3);
        _duplicateRandom = SplitMix64.For(seed, stream + 4);
        _delayRandom = SplitMix64.For(seed, stream + 5);
    }

    public bool Refuse(in FaultTrigger trigger) => Hits(in trigger, ref _refuseSeen, ref _refuseRandom);
    public bool Drop(in FaultTrigger trigger) => Hits(in trigger, ref _dropSeen, ref _dropRandom);
    public bool Duplicate(in FaultTrigger trigger) => Hits(in trigger, ref _duplicateSeen, ref _duplicateRandom);

    /// <summary>Inverts one bit of the frame's data when the rule hits it; false for a frame with no
    /// data (a remote frame, length 0), which is left as it is and not counted.</summary>
    public bool FlipBit(in FaultTrigger trigger, ref CanFrame frame)
    {
        if (!Hits(in trigger, ref _flipSeen, ref _flipRandom)) return false;
        int bits = frame.IsRemote ? 0 : frame.Length * 8;
        if (bits == 0) return false;
        int bit = _flipRandom.NextBelow(bits);
        frame.DataBuffer[bit >> 3] ^= (byte)(1 << (bit & 7));
        return true;
    }

    /// <summary>Stopwatch ticks to hold a frame: the delay plus a jitter uniform in [-jitter, +jitter].</summary>
    public long DelayTicks(long delay, long jitter) =>
        jitter <= 0 ? delay : delay - jitter + (long)(_delayRandom.Next() % (ulong)(2 * jitter + 1));

    private static bool Hits(in FaultTrigger trigger, ref long seen, ref SplitMix64 random)
    {
        if (trigger.Every > 0) return ++seen % trigger.Every == 0;
        return trigger.Probability > 0 && random.Next32() < trigger.Threshold;
    }
}
