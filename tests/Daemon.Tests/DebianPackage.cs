namespace VhostDeviceCan.Daemon.Tests;

/// <summary>
/// The Debian package built once per test class by packaging/deb/build.sh from the binaries in
/// artifacts/bin (./build.sh publishes them), into a private directory removed afterwards.
/// </summary>
public sealed class DebianPackage : IDisposable
{
    public const string Name = "vhost-device-can";

    private readonly string _directory = Directory.CreateTempSubdirectory("vdc-deb-").FullName;

    public DebianPackage()
    {
        ToolResult build = Tool.Run(Path.Combine(RepositoryPaths.Root(), "packaging", "deb", "build.sh"), [_directory],
            timeout: TimeSpan.FromMinutes(5));
        if (build.ExitCode != 0) throw new InvalidOperationException("packaging/deb/build.sh failed: " + build);
        File = build.Stdout.TrimEnd('\n').Split('\n')[^1];
        if (!System.IO.File.Exists(File)) throw new InvalidOperationException("packaging/deb/build.sh named no package: " + build);
        Version = Tool.Succeed("dpkg-deb", "--field", File, "Version").Stdout.Trim();
        // "drwxr-xr-x root/root 0 2026-12-07 20:00 ./usr/bin/": type, owner, size, date, time, path.
        string[][] entries = [.. Tool.Succeed("dpkg-deb", "--contents", File).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))];
        Paths = [.. entries.Where(fields => fields[0][0] != 'd').Select(fields => fields[5].TrimStart('.'))];
        Directories = [.. entries.Where(fields => fields[0][0] == 'd' && fields[5] != "./").Select(fields => fields[5].TrimStart('.').TrimEnd('/'))];
    }

    /// <summary>The .deb file.</summary>
    public string File { get; }

    /// <summary>Its version, e.g. 0.1.0-1.</summary>
    public string Version { get; }

    /// <summary>Every file and symbolic link it holds (no directories), as installed: /usr/bin/...</summary>
    public IReadOnlyList<string> Paths { get; }

    /// <summary>Every directory it holds but the root, as installed: /usr/bin, ...</summary>
    public IReadOnlyList<string> Directories { get; }

    /// <summary>The units the package must install: every packaging/systemd/*.service and *.socket.</summary>
    public static IReadOnlyList<string> SystemdUnits()
    {
        string folder = Path.Combine(RepositoryPaths.Root(), "packaging", "systemd");
        return [.. Directory.GetFiles(folder, "*.service").Concat(Directory.GetFiles(folder, "*.socket")).Order(StringComparer.Ordinal)];
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
