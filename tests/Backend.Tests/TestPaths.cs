namespace VhostDeviceCan.Backend.Tests;

internal static class TestPaths
{
    /// <summary>A fresh socket path, short enough for sun_path (108 bytes).</summary>
    public static string NewSocketPath() => Path.Combine(Path.GetTempPath(), $"vdc-{Guid.NewGuid():N}.sock");

    /// <summary>The repository root: the first parent of the test binaries holding publish.list.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "publish.list"))) return dir.FullName;
        throw new InvalidOperationException("publish.list not found above " + AppContext.BaseDirectory);
    }
}
