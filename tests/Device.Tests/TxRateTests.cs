using System.Diagnostics;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;

namespace VhostDeviceCan.Device.Tests;

/// <summary>--tx-rate: a guest over its budget waits; it is never refused, and STOP still
/// answers every request in the ring.</summary>
public sealed class TxRateTests
{
    [Fact]
    public void Limiter_allows_a_burst_then_one_frame_per_interval()
    {
        // 10 frames/s on a clock of 1000 ticks/s: one frame per 100 ticks, bursts of 3.
        var limiter = new TxRateLimiter(new TxRate(10, 3), ticksPerSecond: 1000);
        for (int i = 0; i < 3; i++)
        {
            Assert.True(limiter.CanSend(0), $"burst frame {i}");
            limiter.Sent(0);
        }
        Assert.False(limiter.CanSend(0));
        Assert.Equal(100, limiter.TicksUntilNext(0));
        Assert.False(limiter.CanSend(99));
        Assert.True(limiter.CanSend(100));
        limiter.Sent(100);
        Assert.False(limiter.CanSend(150));
        Assert.Equal(50, limiter.TicksUntilNext(150));

        // Idle time refills the burst, never beyond it.
        Assert.True(limiter.CanSend(10_000));
        for (int i = 0; i < 3; i++) limiter.Sent(10_000);
        Assert.False(limiter.CanSend(10_000));

        limiter.Reset();
        Assert.True(limiter.CanSend(0));
    }

    [Fact]
    public void Limiter_rejects_a_zero_rate() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new TxRateLimiter(new TxRate(0, 1), 1000));

    [Fact]
    public void Frames_beyond_the_burst_are_paced_not_refused_and_stay_in_order()
    {
        const int frames = 25;
        using var harness = new DeviceHarness(options: new CanDeviceOptions { TxRate = new TxRate(100, 5) });
        var guest = harness.ConnectStarted();

        var clock = Stopwatch.StartNew();
        SendAll(guest, frames);
        WaitForCompletions(guest, frames, TimeSpan.FromSeconds(10));
        TimeSpan took = clock.Elapsed;

        Assert.Equal(frames, guest.TxOk);
        Assert.Equal(Enumerable.Range(0, frames).Select(i => (uint)i), harness.Transport.Sent.Select(f => f.Id));
        Assert.True(harness.Counters.TxThrottled > 0, "the device never held a request back");
        // 20 frames past the burst at 100 frames/s cannot take less than 200 ms; allow for timer
        // rounding, never for running faster.
        Assert.True(took >= TimeSpan.FromMilliseconds(180), $"{frames} frames went out in {took.TotalMilliseconds:0} ms");
    }

    [Fact]
    public void STOP_answers_requests_still_waiting_for_the_budget()
    {
        const int frames = 30;
        using var harness = new DeviceHarness(options: new CanDeviceOptions { TxRate = new TxRate(10, 2) });
        var guest = harness.ConnectStarted();

        SendAll(guest, frames);
        Assert.True(harness.Transport.WaitForTransmitCalls(2), "the burst did not go out");
        Assert.True(guest.Stop(), "STOP refused");
        // Every request was used before STOP's answer: no waiting needed to collect them.
        guest.CollectTxCompletions();
        Assert.Equal(frames, guest.TxOk + guest.TxNotOk);
        Assert.True(guest.TxNotOk >= frames - 3, $"{guest.TxOk} went out at 10 frames/s");
    }

    private static void SendAll(VirtioCanGuest guest, int count)
    {
        for (int i = 0; i < count; i++)
            Assert.True(guest.TrySend(CanFrame.Classic((uint)i, false, [(byte)i])), "Txq full");
        guest.Flush();
    }

    private static void WaitForCompletions(VirtioCanGuest guest, int count, TimeSpan timeout)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (guest.TxOk + guest.TxNotOk < count && DateTime.UtcNow < deadline)
        {
            guest.WaitForTx(TimeSpan.FromMilliseconds(100));
            guest.CollectTxCompletions();
        }
    }
}
