using VhostDeviceCan.Frontend;

namespace VhostDeviceCan.Backend.Tests;

/// <summary>Front-ends come and go (docs/spec/vhost-user.md §11); the back-end must not leak across sessions.</summary>
public sealed class ReconnectTests
{
    private const int Cycles = 100;

    [Fact]
    public void Hundred_reconnects_leak_no_fd_and_no_memory_in_the_backend_process()
    {
        using var backend = new EchoHostProcess();
        // Warm-up: first sessions fill caches, JIT-free but the GC heap and allocator pools settle.
        for (int i = 0; i < 10; i++) Cycle(backend, i);
        int fdsBefore = Sessions.SettledFdCount(backend);
        long rssBefore = backend.RssKiB();

        for (int i = 0; i < Cycles; i++) Cycle(backend, i);

        int fdsAfter = Sessions.SettledFdCount(backend);
        long rssAfter = backend.RssKiB();
        Assert.Equal(fdsBefore, fdsAfter);
        // Each session maps and unmaps 16 MiB of guest RAM; a leaked map or per-session garbage
        // kept alive would show as megabytes. 4 MiB leaves room for the GC's own growth.
        Assert.True(rssAfter - rssBefore < 4096, $"RSS grew from {rssBefore} KiB to {rssAfter} KiB over {Cycles} sessions");

        Assert.Equal(0, backend.Terminate());
        Assert.False(File.Exists(backend.SocketPath), "the echo host left its socket behind");
    }

    [Fact]
    public void Hundred_reconnects_leak_no_fd_in_process()
    {
        using var backend = new InProcessEcho();
        for (int i = 0; i < 5; i++) Cycle(backend, i);
        int before = Sessions.SettledFdCount(backend);
        string[] openBefore = OpenFds();
        for (int i = 0; i < Cycles; i++) Cycle(backend, i);
        int after = Sessions.SettledFdCount(backend);
        if (after != before)
        {
            // The test runner and the .NET runtime share this process and may open an fd of
            // their own at any time (once); a leak of the back-end grows with every session.
            string[] openAfter = OpenFds();
            for (int i = 0; i < Cycles; i++) Cycle(backend, i);
            int later = Sessions.SettledFdCount(backend);
            Assert.True(later == after,
                $"fds {before} -> {after} -> {later} over two runs of {Cycles} sessions; new after the first: "
                + string.Join(", ", openAfter.Except(openBefore)));
        }
        Assert.True(backend.Loop.SessionCount >= Cycles + 5);
    }

    /// <summary>This process's open fds as "N -> target".</summary>
    private static string[] OpenFds() =>
        [.. new DirectoryInfo("/proc/self/fd").GetFiles().Select(f => $"{f.Name} -> {f.LinkTarget}")];

    [Fact]
    public void Reconnecting_while_traffic_is_in_flight_starts_the_next_session_fresh()
    {
        using var backend = new InProcessEcho();
        for (int i = 0; i < 20; i++)
        {
            var frontend = VirtioFrontend.Connect(backend.SocketPath);
            frontend.Start();
            EchoTraffic.Run(frontend, 0, 10);
            // Offer chains and leave without waiting: the back-end sees the socket close mid-stream.
            var queue = frontend.Queue(0);
            for (int c = 0; c < 8; c++)
                queue.Add([new(queue.Buffers.Rent(), 16, false), new(queue.Buffers.Rent(), 16, true)]);
            queue.Kick();
            frontend.Disconnect();
        }
        Sessions.ProveWorking(backend.SocketPath, diagnostics: () => backend.Log.ToString());
    }

    private static void Cycle(IEchoBackend backend, int i)
    {
        using var frontend = VirtioFrontend.Connect(backend.SocketPath);
        frontend.Start();
        EchoTraffic.Run(frontend, i % 2, 16, indirect: i % 3 == 0, seed: i);
        // Half the sessions stop like QEMU first, half just vanish (docs/spec/vhost-user.md §10.3 vs docs/spec/vhost-user.md §10.4).
        if (i % 2 == 0) frontend.Stop();
    }
}
