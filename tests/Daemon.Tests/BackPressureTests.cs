using System.Text.RegularExpressions;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using VhostDeviceCan.TestSupport;
using static VhostDeviceCan.Daemon.Tests.Traffic;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>The published daemon's virtual bus under a sender that does not pace itself: nothing
/// is lost for a guest that takes frames, and a guest that takes none stalls nobody for long.</summary>
public sealed class BackPressureTests
{
    private const int Frames = 200_000;

    [Fact]
    public void An_unpaced_bench_through_the_daemon_loses_nothing_even_with_a_small_queue()
    {
        using var daemon = DaemonProcess.Start(2);
        using var bench = new ChildProcess("vhost-can-sim",
            ["bench", daemon.Socket(0), daemon.Socket(1), "--unpaced", "--frames", Frames.ToString(), "--queue-size", "64"]);
        Assert.Equal(0, bench.WaitForExit(TimeSpan.FromMinutes(2)));
        bench.WaitForOutput($@"^throughput \(unpaced\) +[\d,]+ frames/s; 200,000 sent, 200,000 received, 0 lost, in order$");
    }

    [Fact]
    public void A_guest_that_takes_nothing_is_overrun_and_the_others_still_lose_nothing()
    {
        // The bound is the bus's, set by any one entry that names it.
        using var daemon = DaemonProcess.Start(3, ["-d", "vbus:default vbus:default,overrun-ms=250 vbus:default"]);
        using var sender = VirtioCanGuest.Connect(daemon.Socket(0));
        using var receiver = VirtioCanGuest.Connect(daemon.Socket(1));
        // Connected and started, but never a receive buffer: a guest whose driver has stalled.
        using var stuck = VirtioCanGuest.Connect(daemon.Socket(2), new VirtioCanGuestOptions { PostRxBuffers = false });
        foreach (var guest in new[] { sender, receiver, stuck }) Assert.True(guest.Start(Patience), "START refused");

        long received = 0;
        bool ordered = true;
        var receiving = new Thread(() =>
        {
            var batch = new CanFrame[256];
            int expected = 0;
            DateTime deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
            int idle = 0;
            // Lost frames never come: give up after 5 s without one.
            while (received < Frames && DateTime.UtcNow < deadline && idle < 50)
            {
                int n = receiver.Receive(batch, TimeSpan.FromMilliseconds(100));
                idle = n == 0 ? idle + 1 : 0;
                for (int i = 0; i < n; i++) ordered &= BitConverter.ToInt32(batch[i].Data) == expected++;
                Interlocked.Add(ref received, n);
            }
        }) { IsBackground = true };
        receiving.Start();

        SendUnpaced(sender, Frames);
        Assert.True(receiving.Join(TimeSpan.FromMinutes(2)), "the receiver did not finish");
        Assert.Equal(Frames, Interlocked.Read(ref received));
        Assert.True(ordered, "frames out of order");
        Assert.Equal(0, receiver.RxDropped);
        Assert.Equal(Frames, sender.TxOk);
        Assert.Equal(0, sender.TxNotOk);

        // The stuck guest's member was overrun (once) and lost what did not fit its backlog and inbox.
        daemon.Signal("USR2");
        Match stuckReport = daemon.Process.WaitForLog(@"SIGUSR2: \S+can\.sock2 on vbus:default: guest connected, controller started; .*; vbus:default \(pending (\d+), dropped (\d+), overrun now, overrun 1 times \(bound 250 ms\)");
        long dropped = long.Parse(stuckReport.Groups[2].Value);
        Assert.InRange(dropped, Frames - 4096, Frames - 1);
        daemon.Process.WaitForLog(@"SIGUSR2: \S+can\.sock1 on vbus:default: guest connected, controller started; tx 0 .*rx 200000 \(dropped: backlog full 0, on the bus 0,.*; vbus:default \(pending 0, dropped 0, overrun 0 times \(bound 250 ms\)");
    }

    /// <summary>As fast as the device takes requests: a full Txq is the only brake.</summary>
    private static void SendUnpaced(VirtioCanGuest guest, int count)
    {
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        for (int i = 0; i < count;)
        {
            if (guest.TrySend(CanFrame.Classic(0x123, false, BitConverter.GetBytes(i))))
            {
                i++;
                continue;
            }
            guest.Flush();
            if (guest.CollectTxCompletions() == 0) guest.WaitForTx(TimeSpan.FromSeconds(1));
            Assert.True(DateTime.UtcNow < deadline, $"sending stalled after {i} frames");
        }
        guest.Flush();
        while (guest.TxInFlight > 0 && DateTime.UtcNow < deadline)
        {
            if (guest.CollectTxCompletions() == 0) guest.WaitForTx(TimeSpan.FromSeconds(1));
        }
    }
}
