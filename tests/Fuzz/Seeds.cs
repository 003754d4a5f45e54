namespace VhostDeviceCan.Fuzz;

/// <summary>Builds the committed seed corpora (tests/Fuzz/corpus/TARGET) from the byte rows and
/// scenarios of the unit tests.</summary>
internal static class Seeds
{
    public static int Write(string target, string directory)
    {
        var seeds = target switch
        {
            "tx-request" => TxRequestSeeds.All(),
            "chain-walk" => ChainWalkSeeds.All(),
            "vhost-user" => VhostUserSeeds.All(),
            _ => throw new ArgumentException($"no target {target}", nameof(target)),
        };
        Directory.CreateDirectory(directory);
        int count = 0;
        foreach (var (name, bytes) in seeds)
        {
            File.WriteAllBytes(Path.Combine(directory, $"{++count:D2}-{name}"), bytes);
        }
        return count;
    }

    public static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));
}
