namespace VhostDeviceCan.Can.Faults;

/// <summary>
/// SplitMix64 (Steele, Lea and Flood, 2014; the seeding generator of the xoshiro family): a 64-bit
/// counter stepped by the golden-ratio constant and passed through a bijective mixer. Tiny, fast,
/// statistically good enough for choosing frames, and fully defined by its seed, so that a seed
/// names the same choices on every machine and .NET version (System.Random promises neither).
/// </summary>
internal struct SplitMix64
{
    private ulong _state;

    public SplitMix64(ulong seed) => _state = seed;

    /// <summary>A stream of its own for each (seed, stream) pair: the stream number is mixed in
    /// once, so streams of one seed do not overlap in any useful length.</summary>
    public static SplitMix64 For(ulong seed, ulong stream)
    {
        var mixer = new SplitMix64(seed ^ (stream * 0xD1B54A32D192ED03UL));
        return new SplitMix64(mixer.Next());
    }

    public ulong Next()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>The high 32 bits, the best mixed.</summary>
    public uint Next32() => (uint)(Next() >> 32);

    /// <summary>Uniform in [0, <paramref name="bound"/>) by multiply-and-shift (bias below 2^-32 for the small bounds used here).</summary>
    public int NextBelow(int bound) => (int)((ulong)Next32() * (uint)bound >> 32);
}
