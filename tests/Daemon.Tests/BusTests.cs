using System.Text.RegularExpressions;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using VhostDeviceCan.VirtioCanWire;
using static VhostDeviceCan.Daemon.Tests.Traffic;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>Guests talking through the published daemon on its built-in virtual bus.</summary>
public sealed class BusTests
{
    private static VirtioCanGuest Started(string socket, VirtioCanGuestOptions? options = null)
    {
        var guest = VirtioCanGuest.Connect(socket, options);
        Assert.True(guest.Start(Patience), $"{socket}: START refused");
        return guest;
    }

    [Fact]
    public void Two_guests_exchange_every_frame_kind_both_ways_in_order_with_none_lost_or_echoed()
    {
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        Assert.Equal(0b1111UL, a.Negotiated & 0b1111);
        ExchangeBothWaysExactly(a, b);
    }

    [Fact]
    public void With_busy_polling_two_guests_exchange_frames_the_same()
    {
        using var daemon = DaemonProcess.Start(2, ["--busy-poll", "200"]);
        daemon.Process.WaitForLog("busy polling for 200 µs after each event");
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        ExchangeBothWaysExactly(a, b);
    }

    /// <summary>10,000 frames each way, every kind, in order; nothing lost, echoed or extra.</summary>
    private static void ExchangeBothWaysExactly(VirtioCanGuest a, VirtioCanGuest b)
    {
        Traffic.Run(10_000, [a, b], [a, b]);

        Assert.Equal(10_000, a.RxFrames);
        Assert.Equal(10_000, b.RxFrames);
        Assert.True(ReceivesNothing(a) && ReceivesNothing(b), "extra frames after the streams");
    }

    [Fact]
    public void Frames_a_bus_off_guest_misses_are_counted_in_its_SIGUSR2_report()
    {
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));

        // SIGUSR1 puts both controllers bus-off; only a restarts, b stays off the bus.
        daemon.Signal("USR1");
        Assert.True(a.WaitForConfigChange(Patience) && b.WaitForConfigChange(Patience), "no bus-off notification");
        Assert.Equal(VirtioCan.VIRTIO_CAN_S_CTRL_BUSOFF, b.ReadStatus());
        Assert.True(a.Start(Patience), "restart after bus-off refused");
        for (int i = 0; i < 5; i++)
            Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(CanFrame.Classic(0x321, false, [(byte)i])));

        // b's loop drains its inbox on its own thread; ask until the report has caught up.
        const string Lost = @"SIGUSR2: \S+can\.sock1 on vbus:default: .*, while bus-off 5, ";
        bool reported = false;
        for (int attempt = 0; attempt < 20 && !reported; attempt++)
        {
            daemon.Signal("USR2");
            try
            {
                daemon.Process.WaitForLog(Lost, TimeSpan.FromMilliseconds(500));
                reported = true;
            }
            catch (TimeoutException)
            {
            }
        }
        Assert.True(reported, daemon.Output);
        daemon.Process.WaitForLog(@"SIGUSR2: \S+can\.sock0 on vbus:default: guest connected, controller started; tx 5 .*, while bus-off 0, ");
    }

    [Fact]
    public void ID_filters_keep_each_guest_to_its_own_identifiers()
    {
        using var daemon = DaemonProcess.Start(2, ["--tx-filter", "0=100-1FF", "--rx-filter", "1=150:7F0,00000150"]);
        daemon.Process.WaitForLog(@"can\.sock0: the guest may send only IDs 100-1FF");
        daemon.Process.WaitForLog(@"can\.sock1: the guest receives only IDs 150:7F0,00000150");
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));

        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(CanFrame.Classic(0x100, false, [1])));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(CanFrame.Classic(0x155, false, [2])));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_NOT_OK, a.SendAndWait(CanFrame.Classic(0x300, false, [3])));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_NOT_OK, a.SendAndWait(CanFrame.Classic(0x155, true, [4])));
        // b sends anything; a hears all of it.
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, b.SendAndWait(CanFrame.Classic(0x7FF, false, [5])));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, b.SendAndWait(CanFrame.Classic(0x150, true, [6])));

        var heardByB = new CanFrame[4];
        Assert.Equal(1, b.Receive(heardByB, TimeSpan.FromSeconds(5)));
        Assert.Equal((0x155u, (byte)2), (heardByB[0].Id, heardByB[0].Data[0]));
        Assert.True(ReceivesNothing(b), "b heard a frame outside its RX filter");
        var heardByA = new CanFrame[4];
        int n = a.Receive(heardByA, TimeSpan.FromSeconds(5));
        if (n < 2) n += a.Receive(heardByA.AsSpan(n), TimeSpan.FromSeconds(5));
        Assert.Equal([5, 6], heardByA[..n].Select(f => (int)f.Data[0]));
        daemon.Process.WaitForLog(@"can\.sock0: guest sent 300#03, outside its TX filter 100-1FF");
    }

    [Fact]
    public void A_rate_limited_guest_is_paced_and_loses_nothing()
    {
        const int frames = 60;
        using var daemon = DaemonProcess.Start(2, ["--tx-rate", "0=200/10"]);
        daemon.Process.WaitForLog(@"can\.sock0: the guest transmits at most 200 frames/s, bursts of 10");
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));

        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < frames; i++) Assert.True(a.TrySend(CanFrame.Classic((uint)i, false, [(byte)i])));
        a.Flush();
        var heard = new List<uint>();
        var buffer = new CanFrame[64];
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (heard.Count < frames && DateTime.UtcNow < deadline)
        {
            int n = b.Receive(buffer, TimeSpan.FromSeconds(1));
            heard.AddRange(buffer[..n].Select(f => f.Id));
            a.CollectTxCompletions();
        }
        TimeSpan took = clock.Elapsed;
        a.CollectTxCompletions();

        Assert.Equal(Enumerable.Range(0, frames).Select(i => (uint)i), heard);
        Assert.Equal(0, a.TxNotOk);
        // 50 frames past the burst at 200 frames/s: never sooner than 250 ms.
        Assert.True(took >= TimeSpan.FromMilliseconds(230), $"{frames} frames arrived in {took.TotalMilliseconds:0} ms");
    }

    [Fact]
    public void Three_guests_on_one_named_bus_all_see_each_other()
    {
        using var daemon = DaemonProcess.Start(3, ["-d", "vbus:x vbus:x vbus:x"]);
        using var g0 = Started(daemon.Socket(0));
        using var g1 = Started(daemon.Socket(1));
        using var g2 = Started(daemon.Socket(2));
        Traffic.Run(500, [g0, g1, g2], [g0, g1, g2]);
        Assert.All(new[] { g0, g1, g2 }, g => Assert.Equal(1000, g.RxFrames));
    }

    [Fact]
    public void Named_buses_are_isolated()
    {
        using var daemon = DaemonProcess.Start(4, ["-d", "vbus:a vbus:b vbus:a vbus:b"]);
        using var a0 = Started(daemon.Socket(0));
        using var b0 = Started(daemon.Socket(1));
        using var a1 = Started(daemon.Socket(2));
        using var b1 = Started(daemon.Socket(3));

        var onA = CanFrame.Classic(0x100, false, [0xA]);
        var onB = CanFrame.Classic(0x200, false, [0xB]);
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a0.SendAndWait(onA));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, b0.SendAndWait(onB));
        Assert.Equal(onA, ReceiveOne(a1));
        Assert.Equal(onB, ReceiveOne(b1));
        Assert.True(ReceivesNothing(a1) && ReceivesNothing(b1) && ReceivesNothing(a0) && ReceivesNothing(b0));
    }

    [Fact]
    public void STOP_and_START_through_the_daemon()
    {
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        Assert.True(a.Stop(Patience));

        // Stopped: a's TX is refused, b's frames are not kept for it.
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_NOT_OK, a.SendAndWait(CanFrame.Classic(0x1, false, [1])));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, b.SendAndWait(CanFrame.Classic(0x2, false, [2])));
        Assert.True(ReceivesNothing(b), "the refused frame reached the bus");

        Assert.True(a.Start(Patience));
        Assert.True(ReceivesNothing(a), "a frame from while it was stopped reached the guest");
        var frame = CanFrame.Classic(0x3, false, [3]);
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, b.SendAndWait(frame));
        Assert.Equal(frame, ReceiveOne(a));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(frame));
        Assert.Equal(frame, ReceiveOne(b));
    }

    [Fact]
    public void Malformed_TX_is_NOT_OK_and_the_next_good_frame_is_delivered()
    {
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        // Classic length 9: out of range (docs/spec/virtio-can.md §8.3).
        byte[] request = new byte[16 + 9];
        request[0] = 0x01;
        request[2] = 9;
        request[12] = 0x23;
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_NOT_OK, a.SendRawAndWait(request, timeout: Patience));
        var good = CanFrame.Classic(0x123, false, [1, 2, 3, 4, 5, 6, 7, 8]);
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(good));
        Assert.Equal(good, ReceiveOne(b));
        Assert.True(ReceivesNothing(b));
    }

    [Fact]
    public void A_guest_that_takes_no_frames_stalls_the_bus_once_for_the_overrun_bound_and_its_drops_are_logged()
    {
        using var daemon = DaemonProcess.Start(3);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        var stalled = Started(daemon.Socket(2), new VirtioCanGuestOptions { PostRxBuffers = false });

        Traffic.Run(3000, [a], [b]);

        // The daemon logs the device's counters when the guest goes away.
        stalled.Dispose();
        Match line = daemon.Process.WaitForLog(@"can\.sock2.*controller (reset|stopped): tx (\d+) .*rx (\d+) \(dropped: backlog full (\d+), on the bus (\d+),");
        Assert.Equal("0", line.Groups[2].Value);
        Assert.Equal("0", line.Groups[3].Value);
        // It holds its backlog (1024 frames) and its inbox (1024): nothing is dropped from the
        // backlog, and once the bus stopped waiting for it, the rest is dropped on the bus.
        Assert.Equal("0", line.Groups[4].Value);
        Assert.Equal(3000 - 1024 - 1024, long.Parse(line.Groups[5].Value, System.Globalization.CultureInfo.InvariantCulture));
        daemon.Process.WaitForLog(@"can\.sock2.*vbus:default: frames for this guest were dropped because it fell behind");
    }

    [Fact]
    public void A_guest_reconnects_and_works_again()
    {
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        var b = Started(daemon.Socket(1));
        Traffic.Run(100, [a, b], [a, b]);
        b.Dispose();
        daemon.Process.WaitForLog(@"can\.sock1.*front-end disconnected");

        using var again = Started(daemon.Socket(1));
        Traffic.Run(100, [a, again], [a, again]);
        Assert.Equal(100, again.RxFrames);
    }
}
