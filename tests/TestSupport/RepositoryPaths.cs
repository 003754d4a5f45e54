namespace VhostDeviceCan.TestSupport;

/// <summary>Where the repository and its published binaries are, found from the test binaries.</summary>
public static class RepositoryPaths
{
    /// <summary>The first parent of the test binaries holding publish.list.</summary>
    public static string Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "publish.list"))) return dir.FullName;
        throw new InvalidOperationException("publish.list not found above " + AppContext.BaseDirectory);
    }

    /// <summary>artifacts/bin, where ./build.sh publishes the NativeAOT binaries.</summary>
    public static string BinDirectory() => Path.Combine(Root(), "artifacts", "bin");

    /// <summary>A published binary; throws, naming the fix, when ./build.sh has not run.</summary>
    public static string Binary(string name)
    {
        string path = Path.Combine(BinDirectory(), name);
        if (!File.Exists(path)) throw new InvalidOperationException($"{path} is missing: run ./build.sh");
        return path;
    }
}
