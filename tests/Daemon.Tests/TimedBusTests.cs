using System.Diagnostics;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using VhostDeviceCan.TestSupport;
using VhostDeviceCan.VirtioCanWire;
using static VhostDeviceCan.Daemon.Tests.Traffic;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>The published daemon with a timed virtual bus: guests' frames take their wire time,
/// and with LATE_TX_ACK a transmit request completes only once its frame has left the wire.</summary>
public sealed class TimedBusTests
{
    private const int Count = 300;
    private const int Bitrate = 125_000;

    [Fact]
    public void An_unpaced_guest_is_paced_by_the_bus_and_completes_each_request_after_its_frame_left_the_wire()
    {
        using var daemon = DaemonProcess.Start(2, ["-d", $"vbus:t,bitrate={Bitrate} vbus:t,bitrate={Bitrate}"]);
        daemon.Process.WaitForLog(@"vbus:t is timed, bitrate=125000");
        using var sender = VirtioCanGuest.Connect(daemon.Socket(0));
        using var receiver = VirtioCanGuest.Connect(daemon.Socket(1));
        Assert.True(sender.Has(VirtioCan.VIRTIO_CAN_F_LATE_TX_ACK));
        foreach (var guest in new[] { sender, receiver }) Assert.True(guest.Start(Patience), "START refused");
        var frames = Enumerable.Range(0, Count).Select(i => CanFrame.Classic(0x123, false, BitConverter.GetBytes((long)i))).ToArray();
        long wire = new BusTiming(Bitrate).WireTicks(in frames[0]);

        var received = new List<long>(Count);
        long lastReceived = 0;
        var receiving = new Thread(() =>
        {
            var batch = new CanFrame[64];
            var clock = Stopwatch.StartNew();
            while (received.Count < Count && clock.Elapsed < TimeSpan.FromSeconds(30))
            {
                int n = receiver.Receive(batch, TimeSpan.FromMilliseconds(100));
                for (int i = 0; i < n; i++) received.Add(BitConverter.ToInt64(batch[i].Data));
                if (n > 0) lastReceived = Stopwatch.GetTimestamp();
            }
        }) { IsBackground = true };
        receiving.Start();

        long start = Stopwatch.GetTimestamp();
        var completedAt = new List<long>(Count);
        var deadline = Stopwatch.StartNew();
        for (int i = 0; completedAt.Count < Count && deadline.Elapsed < TimeSpan.FromSeconds(30);)
        {
            // As fast as the ring takes requests: only the bus holds the guest back.
            while (i < Count && sender.TrySend(frames[i])) i++;
            sender.Flush();
            int done = sender.CollectTxCompletions();
            if (done == 0)
            {
                sender.WaitForTx(TimeSpan.FromMilliseconds(100));
                done = sender.CollectTxCompletions();
            }
            long now = Stopwatch.GetTimestamp();
            for (int k = 0; k < done; k++) completedAt.Add(now);
        }

        Assert.True(receiving.Join(TimeSpan.FromSeconds(30)));
        Assert.Equal(Enumerable.Range(0, Count).Select(i => (long)i), received);
        Assert.Equal(Count, sender.TxOk);
        // The bus really paces: Count frames need Count wire times, however fast the guest sends.
        Assert.True(lastReceived - start >= Count * wire,
            $"{Count} frames in {(lastReceived - start) * 1e3 / Stopwatch.Frequency:0.0} ms, the wire needs {Count * wire * 1e3 / Stopwatch.Frequency:0.0} ms");
        // LATE_TX_ACK: request k completes no earlier than its frame's end, k + 1 wire times after the start.
        for (int k = 0; k < Count; k++)
            Assert.True(completedAt[k] >= start + (k + 1) * wire, $"request {k} completed before its frame left the wire");

        daemon.Signal("USR2");
        daemon.Process.WaitForLog(@"SIGUSR2: \S+can\.sock0 on vbus:t: .*; bus bitrate=125000: load [\d.]+ % over the last second, [\d.]+ % since start, 300 frames");
    }
}
