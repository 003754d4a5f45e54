using Microsoft.Extensions.Logging;
using VhostDeviceCan.Frontend;
using VhostDeviceCan.VhostUser;

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

    [Fact]
    public void A_second_front_end_is_closed_at_once_while_the_first_keeps_its_session()
    {
        using var backend = new InProcessEcho();
        using var first = VirtioFrontend.Connect(backend.SocketPath);
        first.Start();
        using var second = new VhostUserFrontend(Interop.UnixSocket.Connect(backend.SocketPath)) { ReplyTimeout = Sessions.Wait };
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var refused = Assert.Throws<VhostUserException>(() => second.GetFeatures());
        Assert.True(refused.Error is VhostUserError.Disconnected or VhostUserError.SocketError, refused.Message);
        Assert.True(clock.Elapsed < Sessions.Wait / 2, $"refused after {clock.Elapsed}, not at once");
        Assert.Contains("refused a second front-end", backend.Log.ToString());
        EchoTraffic.Run(first, 0, 10);
        Assert.Equal(1, backend.Loop.SessionCount);
    }

    [Fact]
    public void A_connection_closed_without_a_message_is_no_session()
    {
        // What a second back-end does to learn whether the socket is still served.
        using var backend = new InProcessEcho(logLevel: LogLevel.Debug);
        using (Interop.UnixSocket.Connect(backend.SocketPath)) { }
        using var frontend = VirtioFrontend.Connect(backend.SocketPath);
        frontend.Start();
        EchoTraffic.Run(frontend, 0, 10);
        Assert.Equal(1, backend.Loop.SessionCount);
        string[] lines = [.. backend.Log.Lines];
        Assert.Contains(lines, l => l.StartsWith("Debug: echo: a connection from pid ", StringComparison.Ordinal)
            && l.EndsWith(" ended without a message (probe?): the front-end closed the connection", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.StartsWith("Information: echo: front-end disconnected", StringComparison.Ordinal));
        Assert.Single(lines, l => l.StartsWith("Information: echo: front-end connected", StringComparison.Ordinal) && l.EndsWith("(session 1)", StringComparison.Ordinal));
    }

    [Fact]
    public void A_silent_connection_gives_way_to_the_next_front_end()
    {
        using var backend = new InProcessEcho(logLevel: LogLevel.Debug);
        using var silent = Interop.UnixSocket.Connect(backend.SocketPath);
        Assert.True(SpinWait.SpinUntil(() => backend.Log.Lines.Any(l => l.StartsWith("Debug: echo: connection from ", StringComparison.Ordinal)), Sessions.Wait));
        using var frontend = VirtioFrontend.Connect(backend.SocketPath);
        frontend.Start();
        EchoTraffic.Run(frontend, 0, 10);
        Assert.Equal(1, backend.Loop.SessionCount);
        Assert.Contains(backend.Log.Lines, l => l.EndsWith(" ended without a message (probe?): a newer connection came", StringComparison.Ordinal));
        Assert.DoesNotContain(backend.Log.Lines, l => l.StartsWith("Warning:", StringComparison.Ordinal));
        silent.SetTimeouts(Sessions.Wait);
        Assert.Equal(0, silent.Receive(new byte[1], fds: null));
    }

    [Fact]
    public void A_silent_connection_while_a_front_end_is_attached_is_closed_without_a_warning()
    {
        using var backend = new InProcessEcho(logLevel: LogLevel.Debug);
        using var first = VirtioFrontend.Connect(backend.SocketPath);
        first.Start();
        using (Interop.UnixSocket.Connect(backend.SocketPath)) { }
        Assert.True(SpinWait.SpinUntil(() => backend.Log.Lines.Any(l => l.StartsWith("Debug: echo: a connection from pid ", StringComparison.Ordinal)
            && l.EndsWith(" closed without a message while a front-end is attached (probe?)", StringComparison.Ordinal)), Sessions.Wait), backend.Log.ToString());
        Assert.DoesNotContain(backend.Log.Lines, l => l.StartsWith("Warning:", StringComparison.Ordinal));
        EchoTraffic.Run(first, 0, 10);
        Assert.Equal(1, backend.Loop.SessionCount);
    }

    [Fact]
    public void Only_the_newest_of_two_silent_connections_is_held_while_a_front_end_is_attached()
    {
        using var backend = new InProcessEcho(logLevel: LogLevel.Debug);
        using var first = VirtioFrontend.Connect(backend.SocketPath);
        first.Start();
        using var older = Interop.UnixSocket.Connect(backend.SocketPath);
        using var newer = Interop.UnixSocket.Connect(backend.SocketPath);
        // The older one is closed by the daemon: its read sees the end of the stream.
        older.SetTimeouts(Sessions.Wait);
        Assert.Equal(0, older.Receive(new byte[1], fds: null));
        using var refusedLater = new VhostUserFrontend(newer) { ReplyTimeout = Sessions.Wait };
        var refused = Assert.Throws<VhostUserException>(() => refusedLater.GetFeatures());
        Assert.True(refused.Error is VhostUserError.Disconnected or VhostUserError.SocketError, refused.Message);
        Assert.Single(backend.Log.Lines, l => l.StartsWith("Warning: echo: refused a second front-end", StringComparison.Ordinal));
        EchoTraffic.Run(first, 0, 10);
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
