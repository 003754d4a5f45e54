using System.Diagnostics;
using System.Globalization;
using VhostDeviceCan.CommandLine;

namespace VhostDeviceCan.Simulator;

/// <summary>
/// <c>bench --mesh 2,4,8,16</c>: how the cost of one virtual bus grows with its guests. For each
/// count a fresh daemon (the <c>vhost-device-can</c> beside this program) serves exactly that many
/// sockets on <c>vbus:default</c>, so no unconnected member takes frames too; a <see cref="Mesh"/>
/// run measures it and the daemon is stopped. Prints one table row per count.
/// </summary>
internal static class MeshTable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(10);

    public static int Run(IReadOnlyList<int> counts, int frames, int queueSize, TimeSpan timeout)
    {
        string daemon = Path.Combine(AppContext.BaseDirectory, "vhost-device-can");
        if (!File.Exists(daemon))
            throw new CommandFailure(ExitStatus.Usage, $"bench --mesh starts the daemon beside this program, and {daemon} is missing");
        var rows = new List<MeshRow>();
        int status = ExitStatus.Ok;
        foreach (int count in counts)
        {
            DirectoryInfo directory = Directory.CreateTempSubdirectory("vhost-can-mesh-");
            string prefix = Path.Combine(directory.FullName, "mesh.sock");
            using Process process = StartDaemon(daemon, prefix, count);
            try
            {
                WaitForSockets(process, prefix, count);
                Console.WriteLine($"mesh of {count} guests (daemon pid {process.Id})");
                int result = Mesh.Run(new MeshSettings(prefix, count, frames, queueSize, process.Id, timeout), out MeshRow row);
                rows.Add(row);
                if (result != ExitStatus.Ok) status = result;
            }
            finally
            {
                if (!process.HasExited) process.Kill();
                process.WaitForExit();
                directory.Delete(recursive: true);
            }
        }
        Console.WriteLine();
        Console.WriteLine("guests on one bus, every one sending unpaced and receiving all the others");
        Console.WriteLine($"{"guests",6}  {"delivered frames/s",18}  {"daemon CPU per frame",20}  {"lost",6}  {"disordered",10}");
        foreach (MeshRow row in rows)
        {
            string cpu = row.CpuMicrosPerFrame is { } micros ? micros.ToString("0.000", CultureInfo.InvariantCulture) + " µs" : "?";
            Console.WriteLine($"{row.Guests,6}  {row.Delivered,18:#,0}  {cpu,20}  {row.Lost,6}  {row.Disordered,10}");
        }
        return status;
    }

    private static Process StartDaemon(string daemon, string prefix, int count)
    {
        var start = new ProcessStartInfo(daemon)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add("--socket-path");
        start.ArgumentList.Add(prefix);
        start.ArgumentList.Add("--socket-count");
        start.ArgumentList.Add(count.ToString(CultureInfo.InvariantCulture));
        Process process = Process.Start(start) ?? throw new CommandFailure(ExitStatus.Internal, $"could not start {daemon}");
        // Its log is not wanted, but a full pipe would stop it.
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static void WaitForSockets(Process process, string prefix, int count)
    {
        var watch = Stopwatch.StartNew();
        string last = prefix + (count - 1).ToString(CultureInfo.InvariantCulture);
        while (!File.Exists(last))
        {
            if (process.HasExited) throw new CommandFailure(ExitStatus.Internal, $"the daemon exited with status {process.ExitCode} before listening");
            if (watch.Elapsed > StartTimeout) throw new CommandFailure(ExitStatus.Internal, $"the daemon did not listen on {last} within {StartTimeout.TotalSeconds:0} s");
            Thread.Sleep(20);
        }
    }
}
