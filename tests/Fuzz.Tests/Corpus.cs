namespace VhostDeviceCan.Fuzz.Tests;

/// <summary>The committed corpora in tests/Fuzz/corpus: the seeds, plus any inputs added from
/// findings or from afl-fuzz's queue.</summary>
internal static class Corpus
{
    public static string Directory(string target)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "Fuzz", "corpus", target);
            if (System.IO.Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException($"no tests/Fuzz/corpus/{target} above {AppContext.BaseDirectory}");
    }

    public static IEnumerable<string> Files(string target) =>
        System.IO.Directory.GetFiles(Directory(target)).Order(StringComparer.Ordinal);

    public static TheoryData<string> Names(string target)
    {
        var data = new TheoryData<string>();
        foreach (string file in Files(target)) data.Add(Path.GetFileName(file));
        return data;
    }

    public static byte[] Read(string target, string name) => File.ReadAllBytes(Path.Combine(Directory(target), name));
}
