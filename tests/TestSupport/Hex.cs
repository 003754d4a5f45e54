namespace VhostDeviceCan.TestSupport;

/// <summary>Literal byte rows for [Theory] data: "01 00 08 00 ..." (spaces and dashes ignored).</summary>
public static class Hex
{
    public static byte[] Parse(string text) =>
        Convert.FromHexString(text.Replace(" ", "", StringComparison.Ordinal).Replace("-", "", StringComparison.Ordinal));

    public static string Format(ReadOnlySpan<byte> bytes) =>
        string.Join(' ', bytes.ToArray().Select(b => b.ToString("X2")));
}
