namespace VhostDeviceCan.Fuzz;

/// <summary>One fuzz target: runs one input and throws only when it finds a bug (an exception the
/// product code should never let out, or a broken invariant).</summary>
internal interface IFuzzTarget
{
    string Name { get; }

    void Run(ReadOnlySpan<byte> input);
}
