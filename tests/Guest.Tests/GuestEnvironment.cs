using System.Diagnostics;

namespace VhostDeviceCan.Guest.Tests;

/// <summary>Where the guest scripts are, and the QEMU, kernel and
/// initramfs that tests/guest/run-guest.sh prepared (resolved once per test run).</summary>
internal static class GuestEnvironment
{
    private static readonly Lazy<IReadOnlyDictionary<string, string>> s_artifacts = new(Prepare);

    public static string RunGuest => Path.Combine(RepositoryPaths.Root(), "tests/guest/run-guest.sh");

    /// <summary>VDC_QEMU, VDC_KERNEL, VDC_INITRD for run-guest.sh: resolving them once spares every
    /// boot the cache checks (seconds each on a busy machine).</summary>
    public static IReadOnlyDictionary<string, string> Artifacts => s_artifacts.Value;

    private static IReadOnlyDictionary<string, string> Prepare()
    {
        // Builds whatever is missing (a cold kernel build takes long; test.sh prepares it first).
        var start = new ProcessStartInfo(RunGuest, "--print-env")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("run-guest.sh --print-env did not finish");
        }
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"run-guest.sh --print-env failed ({process.ExitCode}):\n{stderr.Result}");
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = line.IndexOf('=');
            if (eq > 0) values[line[..eq]] = line[(eq + 1)..];
        }
        foreach (string key in new[] { "VDC_QEMU", "VDC_KERNEL", "VDC_INITRD" })
            if (!values.ContainsKey(key)) throw new InvalidOperationException($"run-guest.sh --print-env gave no {key}:\n{output}");
        return values;
    }
}
