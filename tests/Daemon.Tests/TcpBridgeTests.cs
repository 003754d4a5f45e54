using System.Globalization;
using System.Net;
using System.Net.Sockets;
using VhostDeviceCan.Can;
using VhostDeviceCan.Can.Cannelloni;
using VhostDeviceCan.Guest;
using static VhostDeviceCan.Daemon.Tests.BridgeDaemons;
using static VhostDeviceCan.Daemon.Tests.Traffic;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>Virtual buses of separate daemons joined over cannelloni's TCP protocol, server and
/// client, with real daemons, real sockets, simulated guests and raw TCP peers.</summary>
public sealed class TcpBridgeTests
{
    private const string Handshake = "43 41 4E 4E 45 4C 4C 4F 4E 49 76 31";

    private static DaemonProcess Server(int guests, int port) =>
        WithBridge(guests, string.Create(CultureInfo.InvariantCulture, $"vbus:default=cannelloni-tcp-server:{port}"), "listening on 127.0.0.1:");

    private static DaemonProcess Client(int guests, int port) =>
        WithBridge(guests, string.Create(CultureInfo.InvariantCulture, $"vbus:default=cannelloni-tcp-client:127.0.0.1:{port}"), "connecting to 127.0.0.1:");

    private static int PeerUps(DaemonProcess daemon) =>
        daemon.Log.Snapshot().Count(l => l.Contains(": peer up", StringComparison.Ordinal));

    private static void WaitForPeerUps(DaemonProcess daemon, int count)
    {
        DateTime deadline = DateTime.UtcNow + Patience;
        while (PeerUps(daemon) < count && DateTime.UtcNow < deadline) Thread.Sleep(20);
        Assert.True(PeerUps(daemon) >= count, $"peer up {PeerUps(daemon)} times, not {count}:\n{daemon.Output}");
    }

    private static Socket RawClient(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 10_000 };
        socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
        return socket;
    }

    private static byte[] ReadExactly(Socket socket, int count)
    {
        var bytes = new byte[count];
        for (int at = 0; at < count;)
        {
            int n = socket.Receive(bytes, at, count - at, SocketFlags.None);
            Assert.True(n > 0, $"connection closed after {at} of {count} bytes");
            at += n;
        }
        return bytes;
    }

    /// <summary>Reads until the daemon closes the connection; what came before the end.</summary>
    private static byte[] ReadToEnd(Socket socket)
    {
        var all = new List<byte>();
        var buffer = new byte[4096];
        try
        {
            int n;
            while ((n = socket.Receive(buffer)) > 0) all.AddRange(buffer.AsSpan(0, n).ToArray());
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            // Closed with our bytes unread: the kernel resets instead of ending the stream.
        }
        return [.. all];
    }

    /// <summary>Two guests on one daemon still exchange frames at full speed.</summary>
    private static void GuestsKeepServing(VirtioCanGuest a0, VirtioCanGuest a1, int frames = 2000)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Traffic.Run(frames, [a0, a1], [a0, a1]);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"{2 * frames} frames took {clock.Elapsed.TotalMilliseconds:0} ms");
    }

    [Fact]
    public void Server_and_client_daemons_carry_every_frame_kind_both_ways_in_order()
    {
        int port = FreeTcpPort();
        using var server = Server(1, port);
        using var client = Client(1, port);
        WaitForPeerUps(server, 1);
        WaitForPeerUps(client, 1);
        using var a = Started(server.Socket(0));
        using var b = Started(client.Socket(0));

        Traffic.Run(1000, [a, b], [a, b]);

        Assert.Equal(1000, a.RxFrames);
        Assert.Equal(1000, b.RxFrames);
        Assert.True(ReceivesNothing(a) && ReceivesNothing(b), "extra frames after the streams");
        ReportShows(server, "peer up, connections 1, frames in 1000 out 1000; dropped: no-peer 0 frames, send 0 frames");
        ReportShows(client, "peer up, connections 1, frames in 1000 out 1000;");
    }

    [Fact]
    public void A_killed_client_reconnects_when_restarted_and_the_server_serves_its_guests_meanwhile()
    {
        int port = FreeTcpPort();
        using var server = Server(2, port);
        using var a0 = Started(server.Socket(0));
        using var a1 = Started(server.Socket(1));
        var client = Client(1, port);
        try
        {
            WaitForPeerUps(server, 1);
            using (var b = Started(client.Socket(0)))
            {
                Assert.Equal(0, b.SendAndWait(CanFrame.Classic(0x1, false, [1])));
                Assert.Equal(CanFrame.Classic(0x1, false, [1]), ReceiveOne(a0));
                Assert.Equal(CanFrame.Classic(0x1, false, [1]), ReceiveOne(a1));
                client.Signal("KILL");
                client.Process.WaitForExit(Patience);
            }
            server.Process.WaitForLog("bridge .*: peer down: ");
            GuestsKeepServing(a0, a1);
        }
        finally
        {
            client.Dispose();
        }

        using var restarted = Client(1, port);
        WaitForPeerUps(server, 2);
        using var b2 = Started(restarted.Socket(0));
        Traffic.Run(500, [a0, b2], [a0, a1, b2]);
        Assert.False(server.HasExited);
        ReportShows(server, "peer up, connections 2, ");
    }

    [Fact]
    public void A_client_reconnects_to_a_killed_and_restarted_server()
    {
        int port = FreeTcpPort();
        using var client = Client(1, port);
        using var b = Started(client.Socket(0));
        var server = Server(1, port);
        try
        {
            WaitForPeerUps(client, 1);
            server.Signal("KILL");
            server.Process.WaitForExit(Patience);
            client.Process.WaitForLog("bridge .*: peer down: ");
        }
        finally
        {
            server.Dispose();
        }
        // The client's bus goes on without its peer: frames are dropped and counted, the guest waits for nothing.
        Assert.Equal(0, b.SendAndWait(CanFrame.Classic(0x3, false, [3])));

        using var restarted = Server(1, port);
        WaitForPeerUps(client, 2);
        using var a = Started(restarted.Socket(0));
        Traffic.Run(500, [a, b], [a, b]);
        ReportShows(client, "peer up, connections 2, .*no-peer [1-9]");
    }

    [Fact]
    public void A_raw_peer_speaks_the_documented_bytes_and_wrong_handshakes_garbage_silence_and_extra_clients_are_closed_and_counted()
    {
        int port = FreeTcpPort();
        using var server = Server(2, port);
        using var a0 = Started(server.Socket(0));
        using var a1 = Started(server.Socket(1));

        // A wrong handshake: the server's own comes first, then the connection ends.
        using (var wrong = RawClient(port))
        {
            wrong.Send(Hex.Parse("43 41 4E 4E 45 4C 4C 4F 4E 49 76 32"));
            Assert.Equal(Handshake, Hex.Format(ReadToEnd(wrong)));
        }
        server.Process.WaitForLog("bridge .*: connection closed before the peer was up: wrong handshake");
        // A UDP datagram sent down a TCP connection, and random garbage.
        var random = new Random(7);
        for (int i = 0; i < 20; i++)
        {
            using var garbage = RawClient(port);
            var bytes = new byte[random.Next(1, 200)];
            random.NextBytes(bytes);
            if (i == 0) bytes = Hex.Parse("02 00 00 00 01 00 00 01 23 01 AA");
            else if (bytes[0] == 0x43) bytes[0] = 0;
            garbage.Send(bytes);
            Assert.Equal(Handshake, Hex.Format(ReadToEnd(garbage)));
        }
        GuestsKeepServing(a0, a1, 500);

        // A well-behaved raw peer: frames both ways in the documented layout.
        using (var peer = RawClient(port))
        {
            peer.Send(Hex.Parse(Handshake));
            Assert.Equal(Handshake, Hex.Format(ReadExactly(peer, 12)));
            WaitForPeerUps(server, 1);

            // While it is up, another client is closed at once.
            using (var extra = RawClient(port))
            {
                extra.Send(Hex.Parse(Handshake));
                Assert.Empty(ReadToEnd(extra));
            }

            var fd = CanFrame.Fd(0x1234567, true, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], CanFrame.CANFD_BRS);
            Assert.Equal(0, a0.SendAndWait(fd));
            Assert.Equal(0, a0.SendAndWait(CanFrame.Remote(0x123, false, 5)));
            Assert.Equal("81 23 45 67 8C 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 40 00 01 23 05", Hex.Format(ReadExactly(peer, 23)));

            Assert.Equal(fd with { Flags = CanFrame.CANFD_FDF }, ReceiveOne(a1));
            Assert.Equal(CanFrame.Remote(0x123, false, 5), ReceiveOne(a1));

            // Two frames, the second split across two writes, reach both guests (BRS does not cross virtio 1.4).
            peer.Send(Hex.Parse("00 00 01 11 02 AA BB 80 00 00 22 88 01 00 01"));
            Thread.Sleep(50);
            peer.Send(Hex.Parse("02 03 04 05 06 07"));
            foreach (var guest in new[] { a0, a1 })
            {
                Assert.Equal(CanFrame.Classic(0x111, false, [0xAA, 0xBB]), ReceiveOne(guest));
                Assert.Equal(CanFrame.Fd(0x22, true, [0, 1, 2, 3, 4, 5, 6, 7]), ReceiveOne(guest));
            }

            // Then an impossible length: that connection is closed, the frames before it stand.
            peer.Send(Hex.Parse("00 00 03 33 01 33  00 00 04 44 0C"));
            Assert.Equal(CanFrame.Classic(0x333, false, [0x33]), ReceiveOne(a0));
            Assert.Equal(CanFrame.Classic(0x333, false, [0x33]), ReceiveOne(a1));
            Assert.Empty(ReadToEnd(peer));
        }
        server.Process.WaitForLog("bridge .*: peer down: impossible frame length");

        // A client that never sends its handshake is closed after 5 s.
        using (var silent = RawClient(port))
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            Assert.Equal(Handshake, Hex.Format(ReadToEnd(silent)));
            Assert.InRange(clock.Elapsed.TotalSeconds, 4, 9);
        }

        GuestsKeepServing(a0, a1, 500);
        Assert.False(server.HasExited);
        ReportShows(server, "peer down, connections 1, .*closed: handshake 21, handshake-timeout 1, length 1, busy 1, receive-errors 0");
    }

    [Fact]
    public void A_hub_with_two_server_bridges_passes_a_frame_from_one_client_to_the_other_exactly_once_and_never_back()
    {
        int portA = FreeTcpPort(), portB = FreeTcpPort();
        using var hub = DaemonProcess.Start(1, ["--bridge", $"vbus:default=cannelloni-tcp-server:{portA}", "--bridge", $"vbus:default=cannelloni-tcp-server:{portB}"]);
        using var daemonA = Client(1, portA);
        using var daemonB = Client(1, portB);
        WaitForPeerUps(hub, 2);
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
        Assert.True(ReceivesNothing(a) && ReceivesNothing(b) && ReceivesNothing(h), "a frame came back or came twice");
    }

    [Fact]
    public void A_peer_that_never_reads_does_not_slow_two_guests_on_the_bus()
    {
        int port = FreeTcpPort();
        using var server = Server(2, port);
        using var a0 = Started(server.Socket(0));
        using var a1 = Started(server.Socket(1));
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        peer.Connect(new IPEndPoint(IPAddress.Loopback, port));
        peer.Send(Hex.Parse(Handshake));
        WaitForPeerUps(server, 1);

        // The peer reads nothing from here on: the kernel's buffers and the bridge's fill, then the
        // bridge drops and counts. Each round of 20,000 frames runs at full speed all the same.
        for (int round = 0; round < 8; round++)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            Traffic.Run(10_000, [a0, a1], [a0, a1]);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"round {round}: 20,000 frames took {clock.Elapsed.TotalMilliseconds:0} ms");
            server.Signal("USR2");
            if (server.Log.Snapshot().Any(l => l.Contains("SIGUSR2: bridge", StringComparison.Ordinal) && !l.Contains(" send 0 frames", StringComparison.Ordinal))) break;
        }
        ReportShows(server, "peer up, connections 1, frames in 0 out [1-9][0-9]*; dropped: no-peer 0 frames, send [1-9][0-9]* frames");
        server.Process.WaitForLog("bridge .*: the peer does not take frames as fast as the bus sends them");

        // And what it was sent is the handshake, then whole frames in order.
        Assert.Equal(Handshake, Hex.Format(ReadExactly(peer, 12)));
        var reader = new CannelloniStreamReader();
        Hex.Parse(Handshake).CopyTo(reader.FreeSpace);
        reader.Commit(12);
        var first = new byte[CannelloniFormat.MaxFrameSize * 4];
        int n = peer.Receive(first);
        first.AsSpan(0, n).CopyTo(reader.FreeSpace);
        reader.Commit(n);
        Assert.Equal(CannelloniError.None, reader.Next(out CanFrame frame));
        Assert.True(frame == Received(1, 0) || frame == Received(2, 0), $"first frame {frame}");
    }
}
