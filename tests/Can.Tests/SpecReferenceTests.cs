using System.Runtime.CompilerServices;

namespace VhostDeviceCan.Can.Tests;

/// <summary>Every section reference in src/ and tests/ leads to a heading in docs/spec/.</summary>
public class SpecReferenceTests
{
    private static readonly string[] ScannedFolders = ["src", "tests"];
    private static readonly string[] ScannedExtensions = [".cs", ".sh", ".md", ".csproj", ".props"];

    [Fact]
    public void Every_reference_in_src_and_tests_names_an_existing_section()
    {
        string root = RepositoryRoot();
        Dictionary<string, HashSet<string>> headings = DigestHeadings(root);
        var problems = new List<string>();
        int references = 0;
        foreach (string file in ScannedFiles(root))
        {
            string text = File.ReadAllText(file);
            references += text.Split("docs/spec/").Length - 1;
            problems.AddRange(SpecReferences.Problems(Path.GetRelativePath(root, file), text, headings));
        }
        Assert.Empty(problems);
        // The scan really ran over the sources: they cite the digests well over a hundred times.
        Assert.True(references > 100, $"only {references} references found under {root}");
    }

    [Fact]
    public void Every_digest_has_numbered_sections()
    {
        Dictionary<string, HashSet<string>> headings = DigestHeadings(RepositoryRoot());
        Assert.Equal(["cannelloni.md", "linux-driver.md", "socketcand.md", "vhost-user.md", "virtio-can.md", "virtqueue.md"], headings.Keys.Order());
        Assert.All(headings, digest => Assert.Contains("1", digest.Value));
        Assert.Contains("8.4", headings["virtio-can.md"]);
        Assert.Contains("10.1", headings["vhost-user.md"]);
        Assert.Contains("3", headings["cannelloni.md"]);
        Assert.Contains("6", headings["socketcand.md"]);
    }

    [Fact]
    public void Cross_references_between_the_digests_resolve()
    {
        string root = RepositoryRoot();
        Dictionary<string, HashSet<string>> headings = DigestHeadings(root);
        string[] documents = [.. Directory.GetFiles(Path.Combine(root, SpecReferences.SpecFolder), "*.md"), Path.Combine(root, "README.md")];
        var problems = documents.SelectMany(path =>
            SpecReferences.CrossReferenceProblems(Path.GetRelativePath(root, path), File.ReadAllText(path), headings));
        Assert.Empty(problems);
    }

    [Theory]
    [InlineData("// docs/spec/virtio-can.md §99: no such section", "has no section 99")]
    [InlineData("// docs/spec/virtio-can.md §8.7: no such subsection", "has no section 8.7")]
    [InlineData("// docs/spec/no-such.md §1", "no-such.md does not exist")]
    [InlineData("/// <summary>Bare (§7).</summary>", "§ without")]
    [InlineData("// virtio-can.md §7 without its folder", "§ without")]
    [InlineData("// docs/spec/virtio-can.md §7, §8: the second has no document", "§ without")]
    public void A_broken_reference_is_reported(string line, string expected)
    {
        string[] problems = [.. SpecReferences.Problems("src/X.cs", "namespace X;\n" + line + "\n", SampleHeadings())];
        string problem = Assert.Single(problems);
        Assert.StartsWith("src/X.cs:2: ", problem, StringComparison.Ordinal);
        Assert.Contains(expected, problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("// docs/spec/virtio-can.md §7: fine")]
    [InlineData("/// (docs/spec/virtio-can.md §8.4, docs/spec/virtio-can.md §10a)")]
    [InlineData("// no reference at all")]
    public void A_good_reference_passes(string line)
    {
        Assert.Empty(SpecReferences.Problems("src/X.cs", line, SampleHeadings()));
    }

    [Fact]
    public void Headings_are_numbered_sections_of_levels_two_to_four()
    {
        HashSet<string> headings = SpecReferences.Headings(
            "# Title 1\n## 1. Layout\n### 8.4 When a request is used\n#### 3.2.1 Deep\n## 10a. Later\n## Sources\n    ## 9. indented\n");
        Assert.Equal(["1", "10a", "3.2.1", "8.4"], headings.Order());
    }

    private static Dictionary<string, HashSet<string>> SampleHeadings() => new()
    {
        ["virtio-can.md"] = SpecReferences.Headings("## 7. State\n## 8. Txq\n### 8.4 Ack\n## 10a. Later\n"),
    };

    private static Dictionary<string, HashSet<string>> DigestHeadings(string root) =>
        Directory.GetFiles(Path.Combine(root, SpecReferences.SpecFolder), "*.md")
            .Where(path => Path.GetFileName(path) != "README.md")
            .ToDictionary(path => Path.GetFileName(path), path => SpecReferences.Headings(File.ReadAllText(path)));

    private static IEnumerable<string> ScannedFiles(string root) =>
        ScannedFolders
            .SelectMany(folder => Directory.EnumerateFiles(Path.Combine(root, folder), "*", SearchOption.AllDirectories))
            .Where(path => ScannedExtensions.Contains(Path.GetExtension(path)))
            .Where(path => !path.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj"))
            // This file's broken samples are there on purpose.
            .Where(path => Path.GetFileName(path) != nameof(SpecReferenceTests) + ".cs");

    /// <summary>The checkout this test was compiled from: the folder above this source file holding the solution.</summary>
    private static string RepositoryRoot([CallerFilePath] string sourceFile = "")
    {
        for (string? folder = Path.GetDirectoryName(sourceFile); folder is not null; folder = Path.GetDirectoryName(folder))
        {
            if (File.Exists(Path.Combine(folder, "VhostDeviceCan.slnx"))) return folder;
        }
        throw new InvalidOperationException($"no VhostDeviceCan.slnx above {sourceFile}");
    }
}
