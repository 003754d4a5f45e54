using System.Net;
using System.Net.Sockets;
using VhostDeviceCan.Can;
using VhostDeviceCan.Can.Cannelloni;
using VhostDeviceCan.Guest;
using static VhostDeviceCan.Daemon.Tests.BridgeDaemons;
using static VhostDeviceCan.Daemon.Tests.Traffic;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>Virtual buses of separate daemons joined over UDP in cannelloni's format, with real
/// daemons, real sockets and simulated guests.</summary>
public sealed class BridgeTests
{
    [Fact]
    public void Two_daemons_carry_every_frame_kind_both_ways_in_order_with_none_lost_or_repeated()
    {
        int portA = FreePort(), portB = FreePort();
        using var daemonA = Bridged(1, Bridge(portA, portB));
        using var daemonB = Bridged(1, Bridge(portB, portA));
        using var a = Started(daemonA.Socket(0));
        using var b = Started(daemonB.Socket(0));

        Traffic.Run(1000, [a, b], [a, b]);

        Assert.Equal(1000, a.RxFrames);
        Assert.Equal(1000, b.RxFrames);
        Assert.True(ReceivesNothing(a) && ReceivesNothing(b), "extra frames after the streams");
        daemonA.Process.WaitForLog("bridge .*: peer up");
        ReportShows(daemonA, "peer up, datagrams in [1-9][0-9]* out [1-9][0-9]*, frames in 1000 out 1000, lost \\(sequence gaps\\) 0; dropped: foreign 0, ");
    }

    [Fact]
    public void A_raw_peer_gets_cannelloni_datagrams_and_only_its_own_well_formed_frames_pass_even_under_a_garbage_flood()
    {
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        peer.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int peerPort = ((IPEndPoint)peer.LocalEndPoint!).Port, bridgePort = FreePort();
        using var daemon = Bridged(1, Bridge(bridgePort, peerPort));
        using var guest = Started(daemon.Socket(0));
        var bridge = new IPEndPoint(IPAddress.Loopback, bridgePort);

        // The guest's frame reaches the peer as a version 2 DATA datagram.
        var fromGuest = CanFrame.Fd(0x1234567, true, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], CanFrame.CANFD_BRS);
        Assert.Equal(0, guest.SendAndWait(fromGuest));
        peer.ReceiveTimeout = 5000;
        var datagram = new byte[2048];
        int length = peer.Receive(datagram);
        Assert.Equal(CannelloniError.None, CannelloniFormat.ReadHeader(datagram.AsSpan(0, length), out _, out int count));
        Assert.Equal(1, count);
        Assert.Equal("02 00 00 00 01 81 23 45 67 8C 00", Hex.Format(datagram.AsSpan(0, 11)));
        Assert.Equal(5 + 4 + 1 + 1 + 12, length);

        // A well-formed datagram from another port is dropped and counted.
        using var stranger = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        stranger.SendTo(Hex.Parse("02 00 00 00 01 00 00 01 11 01 EE"), bridge);
        daemon.Process.WaitForLog("which is not the peer: dropped");
        Assert.True(ReceivesNothing(guest), "a stranger's frame reached the guest");

        // Garbage from the peer, then good datagrams among more garbage: exactly the good frames pass, in order.
        var random = new Random(42);
        var garbage = new byte[300];
        for (int i = 0; i < 5000; i++)
        {
            random.NextBytes(garbage);
            peer.SendTo(garbage.AsSpan(0, random.Next(0, garbage.Length)), SocketFlags.None, bridge);
        }
        // The socket buffer held only part of the flood (the kernel dropped the rest); let the bridge drain it.
        Thread.Sleep(1000);
        // Then bursts small enough for the socket buffer: garbage, one malformed row of each kind
        // (short, wrong version, wrong op code, truncated after one good frame, bad length), and
        // one good datagram carrying frame 0x200 with two bytes i, which must arrive before the next burst.
        var batch = new CanFrame[64];
        var good = new List<int>();
        for (int i = 0; i < 200; i++)
        {
            for (int g = 0; g < 20; g++)
            {
                random.NextBytes(garbage);
                peer.SendTo(garbage.AsSpan(0, random.Next(0, 64)), SocketFlags.None, bridge);
            }
            peer.SendTo(Hex.Parse("02 00"), bridge);
            peer.SendTo(Hex.Parse("03 00 00 00 01 00 00 01 00 00"), bridge);
            peer.SendTo(Hex.Parse("02 02 00 00 01 00 00 01 00 00"), bridge);
            peer.SendTo(Hex.Parse("02 00 00 00 05 00 00 01 00 00"), bridge);
            peer.SendTo(Hex.Parse("02 00 00 00 01 00 00 01 00 0C"), bridge);
            byte[] goodDatagram = Hex.Parse($"02 00 {i:X2} 00 01 00 00 02 00 02 {i >> 8:X2} {i & 0xFF:X2}");
            peer.SendTo(goodDatagram, bridge);
            DateTime deadline = DateTime.UtcNow + Patience, resend = DateTime.UtcNow + TimeSpan.FromSeconds(2);
            while (good.Count <= i && DateTime.UtcNow < deadline)
            {
                // UDP: on a loaded host the kernel may drop a datagram before the bridge reads it.
                if (DateTime.UtcNow > resend)
                {
                    peer.SendTo(goodDatagram, bridge);
                    resend = DateTime.UtcNow + TimeSpan.FromSeconds(2);
                }
                int n = guest.Receive(batch, TimeSpan.FromMilliseconds(100));
                good.AddRange(batch[..n].Where(f => f.Id == 0x200 && f.Len == 2 && !f.IsExtended).Select(f => f.Data[0] << 8 | f.Data[1]));
            }
            good = [.. good.Distinct()];
            Assert.True(good.Count > i, $"good datagram {i} never arrived");
        }
        Assert.Equal(Enumerable.Range(0, 200), good);
        Assert.False(daemon.HasExited);
        ReportShows(daemon, "short-header [1-9][0-9]*, version [1-9][0-9]*, op-code [1-9][0-9]*, truncated [1-9][0-9]*, length [1-9][0-9]*,");
        ReportShows(daemon, "foreign 1, ");

        // And the bridge still carries both ways.
        Assert.Equal(0, guest.SendAndWait(CanFrame.Classic(0x7, false, [7])));
        length = peer.Receive(datagram);
        Assert.Equal("02 00 01 00 01 00 00 00 07 01 07", Hex.Format(datagram.AsSpan(0, length)));
    }

    [Fact]
    public void With_the_peer_daemon_killed_the_bus_runs_at_full_speed_and_traffic_resumes_when_it_returns()
    {
        int portA = FreePort(), portB = FreePort();
        using var daemonA = Bridged(2, Bridge(portA, portB));
        using var a0 = Started(daemonA.Socket(0));
        using var a1 = Started(daemonA.Socket(1));
        var daemonB = Bridged(1, Bridge(portB, portA));
        try
        {
            using (var b = Started(daemonB.Socket(0)))
            {
                Assert.Equal(0, b.SendAndWait(CanFrame.Classic(0x1, false, [1])));
                Assert.Equal(CanFrame.Classic(0x1, false, [1]), ReceiveOne(a0));
                Assert.Equal(CanFrame.Classic(0x1, false, [1]), ReceiveOne(a1));
                daemonA.Process.WaitForLog("bridge .*: peer up");
                daemonB.Signal("KILL");
                daemonB.Process.WaitForExit(Patience);
            }

            // The bridge keeps sending into the void; the two guests on A lose nothing and wait for nothing.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            Traffic.Run(5000, [a0, a1], [a0, a1]);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"10,000 frames took {clock.Elapsed.TotalMilliseconds:0} ms with the peer gone");
            daemonA.Process.WaitForLog("bridge .*: peer down: no datagram for 5 s", TimeSpan.FromSeconds(15));
        }
        finally
        {
            daemonB.Dispose();
        }

        using var daemonB2 = Bridged(1, Bridge(portB, portA));
        using var b2 = Started(daemonB2.Socket(0));
        var frame = CanFrame.Classic(0x2, false, [2]);
        Assert.Equal(0, a0.SendAndWait(frame));
        Assert.Equal(frame, ReceiveOne(b2));
        Assert.Equal(0, b2.SendAndWait(frame));
        Assert.Equal(frame, ReceiveOne(a0));
        Assert.Equal(frame, ReceiveOne(a1));
        // The log is written apart from the frames: give it a moment.
        DateTime deadline = DateTime.UtcNow + Patience;
        while (PeerUps(daemonA) < 2 && DateTime.UtcNow < deadline) Thread.Sleep(50);
        Assert.Equal(2, PeerUps(daemonA));
    }

    private static int PeerUps(DaemonProcess daemon) =>
        daemon.Log.Snapshot().Count(l => l.Contains(": peer up", StringComparison.Ordinal));

    [Fact]
    public void A_hub_daemon_passes_a_frame_from_one_peer_to_the_other_exactly_once_and_never_back()
    {
        int hubToA = FreePort(), hubToB = FreePort(), portA = FreePort(), portB = FreePort();
        using var hub = Bridged(1, Bridge(hubToA, portA), Bridge(hubToB, portB));
        using var daemonA = Bridged(1, Bridge(portA, hubToA));
        using var daemonB = Bridged(1, Bridge(portB, hubToB));
        using var h = Started(hub.Socket(0));
        using var a = Started(daemonA.Socket(0));
        using var b = Started(daemonB.Socket(0));

        var fromA = CanFrame.Classic(0x0A, false, [0xA]);
        Assert.Equal(0, a.SendAndWait(fromA));
        Assert.Equal(fromA, ReceiveOne(b));
        Assert.Equal(fromA, ReceiveOne(h));
        var fromB = CanFrame.Fd(0x0B, false, [0xB]);
        Assert.Equal(0, b.SendAndWait(fromB));
        Assert.Equal(fromB, ReceiveOne(a));
        Assert.Equal(fromB, ReceiveOne(h));
        // Past the batch timeout twice over: nothing came back, nothing came twice.
        Assert.Equal(0, a.Receive(new CanFrame[4], TimeSpan.FromMilliseconds(400)));
        Assert.Equal(0, b.Receive(new CanFrame[4], TimeSpan.FromMilliseconds(400)));
        Assert.True(ReceivesNothing(h));
    }
}
