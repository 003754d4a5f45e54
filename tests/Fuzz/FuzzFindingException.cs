namespace VhostDeviceCan.Fuzz;

/// <summary>A broken invariant: the fuzzer reports it as a crash with this message.</summary>
internal sealed class FuzzFindingException(string message) : Exception(message)
{
    public static void Check(bool condition, string message)
    {
        if (!condition) throw new FuzzFindingException(message);
    }
}
