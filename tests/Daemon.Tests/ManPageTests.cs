using System.Text.RegularExpressions;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>The manual pages (docs/man/*.scd, scdoc source) against what the binaries' --help
/// shows: every option there is documented in its page, and every page renders without a
/// warning from groff or man.</summary>
public sealed class ManPageTests
{
    private static readonly string[] HelpAliases = ["-?", "-h", "--help"];

    private static string ManDirectory => Path.Combine(RepositoryPaths.Root(), "docs", "man");

    private static string Source(string page) => File.ReadAllText(Path.Combine(ManDirectory, page + ".scd"));

    private static string Help(string binary, params string[] command)
    {
        using var process = new ChildProcess(binary, [.. command, "--help"]);
        Assert.Equal(0, process.WaitForExit());
        return string.Join('\n', process.Stdout);
    }

    /// <summary>The entries of one block of System.CommandLine's help ("Options:", "Commands:"):
    /// the text before the two spaces that start each entry's description.</summary>
    private static IEnumerable<string> HelpEntries(string help, string block)
    {
        bool inside = false;
        foreach (string line in help.Split('\n'))
        {
            if (line == block + ":") inside = true;
            else if (inside && !line.StartsWith("  ", StringComparison.Ordinal)) inside = false;
            else if (inside && Regex.Match(line, @"^  (\S.*?)(?:\s{2,}|$)") is { Success: true } entry) yield return entry.Groups[1].Value;
        }
    }

    /// <summary>Every alias of every option help shows: "-s, --socket-path &lt;x&gt;" gives -s and --socket-path.</summary>
    internal static IReadOnlyList<string> HelpOptions(string help) =>
        HelpEntries(help, "Options").SelectMany(entry => entry.Split(", ")).Select(alias => alias.Split(' ')[0]).ToList();

    /// <summary>Whether <paramref name="text"/> defines <paramref name="option"/>: an scdoc term line,
    /// starting with a bold option, that holds it in bold ("*-s*, *--socket-path* _PATH_").</summary>
    private static bool Defines(string text, string option) =>
        text.Split('\n').Any(line => line.StartsWith("*-", StringComparison.Ordinal) && line.Contains($"*{option}*", StringComparison.Ordinal));

    /// <summary>The text of the scdoc subsection "## <paramref name="name"/>", up to the next heading.</summary>
    private static string Subsection(string source, string name)
    {
        Match match = Regex.Match(source, $@"^## {Regex.Escape(name)}\n(.*?)(?=^#)", RegexOptions.Multiline | RegexOptions.Singleline);
        Assert.True(match.Success, $"the page has no section '## {name}'");
        return match.Groups[1].Value;
    }

    private static void AssertNoneMissing(string page, IEnumerable<string> missing)
    {
        string[] names = [.. missing];
        Assert.True(names.Length == 0, $"--help shows options that docs/man/{page}.scd does not define: {string.Join(", ", names)}");
    }

    [Fact]
    public void Every_daemon_option_in_help_is_in_its_man_page()
    {
        IReadOnlyList<string> options = HelpOptions(Help("vhost-device-can"));
        // The help parser itself must have found the options, or the check below proves nothing.
        Assert.Contains("--socket-path", options);
        Assert.Contains("--allow-unsealed-memory", options);
        Assert.Contains("-V", options);

        string source = Source("vhost-device-can.8");
        AssertNoneMissing("vhost-device-can.8", options.Where(option => !Defines(source, option)));
    }

    [Fact]
    public void Every_simulator_command_and_option_in_help_is_in_its_man_page()
    {
        string source = Source("vhost-can-sim.1");
        string rootHelp = Help("vhost-can-sim");
        IReadOnlyList<string> rootOptions = HelpOptions(rootHelp);
        Assert.Contains("--version", rootOptions);
        AssertNoneMissing("vhost-can-sim.1", rootOptions.Where(option => !Defines(source, option)));

        string[] commands = [.. HelpEntries(rootHelp, "Commands").Select(entry => entry.Split(' ')[0])];
        Assert.Equal(["send", "dump", "info", "bench", "mesh", "replay-bench", "bench-hub"], commands);
        var missing = new List<string>();
        foreach (string command in commands)
        {
            IReadOnlyList<string> options = HelpOptions(Help("vhost-can-sim", command));
            Assert.Contains("--help", options);
            string section = Subsection(source, command);
            // Each command's own options in its section; --help, common to all, once for the page.
            missing.AddRange(options.Where(option => !Defines(HelpAliases.Contains(option) ? source : section, option))
                .Select(option => $"{command} {option}"));
        }
        AssertNoneMissing("vhost-can-sim.1", missing);
    }

    [Fact]
    public void Every_ctl_command_and_option_in_help_is_in_its_man_page()
    {
        string source = Source("vhost-can-ctl.1");
        string rootHelp = Help("vhost-can-ctl");
        IReadOnlyList<string> rootOptions = HelpOptions(rootHelp);
        Assert.Contains("--control", rootOptions);
        Assert.Contains("--json", rootOptions);
        AssertNoneMissing("vhost-can-ctl.1", rootOptions.Where(option => !Defines(source, option)));

        string[] commands = [.. HelpEntries(rootHelp, "Commands").Select(entry => entry.Split(' ')[0])];
        Assert.Equal(["status", "set-filter", "set-rate", "inject", "fault", "faults", "bus-off", "capture", "capture-stop", "captures", "replay", "replay-stop", "replays", "metrics", "commands", "request"], commands);
        var missing = new List<string>();
        foreach (string command in commands)
        {
            string section = Subsection(source, command);
            Assert.False(string.IsNullOrWhiteSpace(section), $"vhost-can-ctl.1.scd says nothing under '## {command}'");
            // The common options (-C, --json, --help) once for the page; a command's own in its section.
            IReadOnlyList<string> options = HelpOptions(Help("vhost-can-ctl", command));
            missing.AddRange(options.Where(option => !Defines(rootOptions.Contains(option) || HelpAliases.Contains(option) ? source : section, option))
                .Select(option => $"{command} {option}"));
        }
        AssertNoneMissing("vhost-can-ctl.1", missing);
    }

    [Fact]
    public void A_page_without_an_option_fails_the_check()
    {
        string source = Source("vhost-device-can.8");
        Assert.True(Defines(source, "--tx-rate"));
        string without = string.Join('\n', source.Split('\n').Where(line => !line.StartsWith("*--tx-rate*", StringComparison.Ordinal)));
        Assert.False(Defines(without, "--tx-rate"));
        // Named in running text or in the synopsis is not documented.
        Assert.False(Defines("*vhost-device-can* *--tx-rate* _X_\nsee *--tx-rate*", "--tx-rate"));
    }

    [Theory]
    [InlineData("vhost-device-can", "8")]
    [InlineData("vhost-can-sim", "1")]
    [InlineData("vhost-can-ctl", "1")]
    public void Page_renders_without_warnings(string name, string section)
    {
        Assert.True(Tool.IsInstalled("scdoc"), "scdoc is not installed (apt-get install scdoc; .ci/run does)");
        ToolResult troff = Tool.Run("scdoc", [], standardInput: Source($"{name}.{section}"));
        Assert.True(troff.ExitCode == 0 && troff.Stderr.Length == 0, troff.ToString());
        Assert.Contains($".TH \"{name}\" \"{section}\"", troff.Stdout);

        string file = Path.Combine(Directory.CreateTempSubdirectory("vdc-man-").FullName, $"{name}.{section}");
        try
        {
            File.WriteAllText(file, troff.Stdout);
            // groff with every warning on, and man-db as lintian runs it.
            ToolResult groff = Tool.Run("groff", "-ww", "-z", "-man", "-Tutf8", file);
            Assert.True(groff.ExitCode == 0 && groff.Stderr.Length == 0, groff.ToString());
            ToolResult man = Tool.Run("man", ["--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", file],
                environment: new Dictionary<string, string> { ["LC_ALL"] = "C.UTF-8", ["MANWIDTH"] = "80" });
            Assert.True(man.ExitCode == 0 && man.Stderr.Length == 0, man.ToString());
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
        }
    }
}
