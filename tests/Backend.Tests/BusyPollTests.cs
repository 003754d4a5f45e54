using VhostDeviceCan.Frontend;

namespace VhostDeviceCan.Backend.Tests;

/// <summary>
/// DeviceEventLoop.BusyPoll: the loop polls epoll for a while after each event, then sleeps.
/// These check what it does (polls while traffic flows, sleeps once it stops), not how fast;
/// the latency it buys is the benchmark's to measure.
/// </summary>
public sealed class BusyPollTests
{
    [Fact]
    public void Busy_polling_loop_serves_traffic_and_sleeps_again_once_it_stops()
    {
        using var backend = new InProcessEcho(busyPoll: TimeSpan.FromMilliseconds(2));
        using var frontend = VirtioFrontend.Connect(backend.SocketPath);
        frontend.Start();
        EchoTraffic.Run(frontend, 0, 5_000);
        Assert.True(backend.Loop.PollingWaits > 0, "the loop never polled while traffic flowed");

        // Idle now: within the 2 ms window plus scheduling slack the loop must be asleep, and
        // stay asleep: neither counter moves while nothing happens.
        (long polls, long sleeps) = WaitUntilAsleep(backend.Loop, TimeSpan.FromSeconds(5));
        Thread.Sleep(200);
        Assert.Equal(polls, backend.Loop.PollingWaits);
        Assert.Equal(sleeps, backend.Loop.SleepingWaits);

        // And it wakes for the next request like any sleeping loop.
        EchoTraffic.Run(frontend, 0, 100);
    }

    [Fact]
    public void Without_busy_polling_the_loop_never_polls()
    {
        using var backend = new InProcessEcho();
        using var frontend = VirtioFrontend.Connect(backend.SocketPath);
        frontend.Start();
        EchoTraffic.Run(frontend, 0, 5_000);
        Assert.Equal(0, backend.Loop.PollingWaits);
        Assert.True(backend.Loop.SleepingWaits > 0);
    }

    /// <summary>Waits until the poll counter stops moving for 50 ms; fails if it never does (a
    /// loop that kept spinning while idle).</summary>
    private static (long Polls, long Sleeps) WaitUntilAsleep(DeviceEventLoop loop, TimeSpan timeout)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        long polls = loop.PollingWaits;
        while (DateTime.UtcNow < deadline)
        {
            Thread.Sleep(50);
            long now = loop.PollingWaits;
            if (now == polls) return (now, loop.SleepingWaits);
            polls = now;
        }
        Assert.Fail($"the loop kept polling with no traffic for {timeout.TotalSeconds} s ({polls} polls)");
        return default;
    }
}
