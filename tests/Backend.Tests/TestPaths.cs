namespace VhostDeviceCan.Backend.Tests;

internal static class TestPaths
{
    /// <summary>A fresh socket path, short enough for sun_path (108 bytes).</summary>
    public static string NewSocketPath() => Path.Combine(Path.GetTempPath(), $"vdc-{Guid.NewGuid():N}.sock");
}
