namespace VhostDeviceCan.Fuzz;

internal static class VhostUserSeeds
{
    public static IEnumerable<(string Name, byte[] Bytes)> All() => [];
}
