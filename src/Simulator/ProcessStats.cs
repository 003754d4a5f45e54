using System.Globalization;

namespace VhostDeviceCan.Simulator;

/// <summary>CPU time and RSS of a process, from /proc.</summary>
internal readonly record struct ProcessStats(double CpuSeconds, long RssKiB)
{
    private static readonly double TicksPerSecond = 100; // USER_HZ on Linux

    public static ProcessStats Read(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        // Fields after the command name, which may itself contain spaces or parentheses.
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        double cpu = (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / TicksPerSecond;
        long rss = 0;
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (!line.StartsWith("VmRSS:", StringComparison.Ordinal)) continue;
            rss = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
        return new ProcessStats(cpu, rss);
    }
}
