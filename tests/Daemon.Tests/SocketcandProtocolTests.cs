using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using VhostDeviceCan.Can;
using static VhostDeviceCan.Daemon.Tests.BridgeDaemons;
using static VhostDeviceCan.Daemon.Tests.Traffic;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>The socketcand bridge's protocol rows (docs/spec/socketcand.md) over raw TCP, with the
/// real daemon and simulated guests; and clients that misbehave.</summary>
public sealed class SocketcandProtocolTests
{
    [Fact]
    public void A_wrong_bus_name_gets_the_error_reply_and_the_connection_is_closed()
    {
        using var daemon = Served(1, out int port);
        using var client = new SocketcandClient(port);
        Assert.Equal("< hi >", client.ReadElement());
        client.Write("< open wrong >");
        Assert.Equal("< error could not open bus >", client.ReadElement());
        Assert.True(client.Closed());
        daemon.Process.WaitForLog("session 1 from 127.0.0.1:[0-9]+ down: it asked for a bus other than default");
    }

    [Fact]
    public void Send_reaches_the_guest_and_guest_frames_come_back_in_the_documented_format()
    {
        using var daemon = Served(1, out int port);
        using var guest = Started(daemon.Socket(0));
        using var client = SocketcandClient.Raw(port);

        // docs/spec/socketcand.md §3: hex ID, decimal length, hex bytes; 8 ID digits make it extended.
        client.Write("< send 123 2 11 22 >< send 1AAAAAAA 2 1 f1 >< send 0000001F 0  >< send 7ff 8 1 2 3 4 5 6 7 8 >");
        Assert.Equal(CanFrame.Classic(0x123, false, [0x11, 0x22]), ReceiveOne(guest));
        Assert.Equal(CanFrame.Classic(0x1AAAAAAA, true, [0x01, 0xF1]), ReceiveOne(guest));
        Assert.Equal(CanFrame.Classic(0x1F, true, []), ReceiveOne(guest));
        Assert.Equal(CanFrame.Classic(0x7FF, false, [1, 2, 3, 4, 5, 6, 7, 8]), ReceiveOne(guest));

        // docs/spec/socketcand.md §4: 3 or 8 upper-case ID digits, seconds.microseconds, data without spaces,
        // docs/spec/socketcand.md §6: one space before the element.
        long before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        Assert.Equal(0, guest.SendAndWait(CanFrame.Classic(0x123, false, [0x11, 0x22])));
        Assert.Equal(0, guest.SendAndWait(CanFrame.Classic(0x1A2B3C4, true, [0x1A, 0x22, 0x03, 0x44])));
        Assert.Equal(0, guest.SendAndWait(CanFrame.Classic(0x5, false, [])));
        Match first = Regex.Match(client.ReadElement(), @"^ < frame 123 ([0-9]+)\.[0-9]{6} 1122 >$");
        Assert.True(first.Success);
        Assert.Matches(@"^ < frame 01A2B3C4 [0-9]+\.[0-9]{6} 1A220344 >$", client.ReadElement());
        Assert.Matches(@"^ < frame 005 [0-9]+\.[0-9]{6}  >$", client.ReadElement());
        long seconds = long.Parse(first.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(seconds, before, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        // Nothing the client sent came back to it.
        client.Write("< echo >");
        Assert.Equal("< echo >", client.ReadElement());
    }

    [Fact]
    public void Malformed_and_unsupported_commands_get_error_replies_and_the_session_goes_on()
    {
        using var daemon = Served(1, out int port);
        using var guest = Started(daemon.Socket(0));
        using var client = new SocketcandClient(port);
        Assert.Equal("< hi >", client.ReadElement());
        client.Write("< send 123 0 >");
        Assert.Equal(" < error unknown command >", client.ReadElement());
        client.Write("garbage without an element\n< open default >");
        Assert.Equal("< ok >", client.ReadElement());
        string[] refused =
        [
            "< send 123 9 1 2 3 4 5 6 7 8 9 >", "< send 123 2 11 >", "< send 123 1 11 22 >", "< send 123 1 123 >",
            "< send 20000000 0 >", "< send 123456789 0 >", "< send xyz 0 >", "< send 123 A >", "< send 123 >", "< send >",
        ];
        foreach (string send in refused)
        {
            client.Write(send);
            Assert.Equal(" < error syntax error in send command >", client.ReadElement());
        }
        client.Write("< add 1 0 123 8 11 22 33 44 55 66 77 88 >");
        Assert.Equal(" < error command not supported >", client.ReadElement());
        client.Write("< isotpmode >");
        Assert.Equal(" < error mode not supported >", client.ReadElement());
        client.Write("< frobnicate >");
        Assert.Equal(" < error unknown command >", client.ReadElement());
        client.Write("<>");
        Assert.Equal(" < error unknown command >", client.ReadElement());
        Assert.True(ReceivesNothing(guest));

        // The session still serves; the elements may come split anywhere.
        client.Write("< rawm");
        Thread.Sleep(50);
        client.Write("ode >xx< send 42 1 ");
        Thread.Sleep(50);
        client.Write("7 >");
        Assert.Equal("< ok >", client.ReadElement());
        Assert.Equal(CanFrame.Classic(0x42, false, [7]), ReceiveOne(guest));
        ReportShows(daemon, "frames in 1 out 0; .* commands: bad-send 10, unknown 5, too-long 0");
    }

    [Fact]
    public void An_element_longer_than_socketcand_allows_closes_only_that_session()
    {
        using var daemon = Served(1, out int port);
        using var guest = Started(daemon.Socket(0));
        using var other = SocketcandClient.Raw(port);
        using var client = SocketcandClient.Raw(port);
        // Garbage outside an element is dropped however much of it there is.
        client.Write(Encoding.ASCII.GetBytes(new string('x', 100_000)));
        client.Write("< echo >");
        Assert.Equal("< echo >", client.ReadElement());
        // Exactly the buffer's worth, so that the server read every byte before it closes (no reset).
        client.Write("< send " + new string('1', 8290 - 7));
        Assert.Equal("< error command too long >", client.ReadElement());
        Assert.True(client.Closed());

        Assert.Equal(0, guest.SendAndWait(CanFrame.Classic(0x9, false, [9])));
        Assert.Matches(@"^ < frame 009 [0-9.]+ 09 >$", other.ReadElement());
        ReportShows(daemon, "sessions up 2 down 1 .* too-long 1");
    }

    [Fact]
    public void A_client_that_never_reads_loses_frames_counted_and_does_not_slow_two_guests()
    {
        using var daemon = Served(2, out int port);
        using var a0 = Started(daemon.Socket(0));
        using var a1 = Started(daemon.Socket(1));
        using var sleeper = new SocketcandClient(port, receiveBuffer: 4096);
        Assert.Equal("< hi >", sleeper.ReadElement());
        sleeper.Write("< open default >< rawmode >");
        Assert.Equal("< ok >", sleeper.ReadElement());
        Assert.Equal("< ok >", sleeper.ReadElement());

        var clock = Stopwatch.StartNew();
        Traffic.Run(10_000, [a0, a1], [a0, a1]);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"20,000 frames took {clock.Elapsed.TotalMilliseconds:0} ms with a client that does not read");
        daemon.Process.WaitForLog("session 1 from .* does not read: frames for it are dropped and counted");
        ReportShows(daemon, "frames in 0 out [1-9][0-9]*; dropped: slow-client [1-9][0-9]*, fd 5000, remote 5000,");
        // It is still served once it reads: what was queued first comes first.
        Assert.Matches(@"^ < frame 000 [0-9.]+ 0[12] >$", sleeper.ReadElement());
    }

    [Fact]
    public void Connections_beyond_the_limit_are_refused_idle_ones_closed_and_a_thousand_connects_leak_nothing()
    {
        using var daemon = Served(1, out int port);
        using var guest = Started(daemon.Socket(0));
        int fdsBefore = daemon.FdCount;
        var endpoint = new IPEndPoint(IPAddress.Loopback, port);
        for (int i = 0; i < 1000; i++)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Connect(endpoint);
            if (i % 2 == 0) socket.Send("< open default >< rawmode >< send 1"u8);
        }

        var idle = new List<SocketcandClient>();
        try
        {
            DateTime deadline = DateTime.UtcNow + Patience;
            // The thousand are closed by now or soon; then 32 slots take 32 idle clients and refuse the rest.
            while (true)
            {
                foreach (var client in idle) client.Dispose();
                idle.Clear();
                for (int i = 0; i < 40; i++) idle.Add(new SocketcandClient(port));
                string[] greetings = [.. idle.Select(c => c.ReadElement())];
                if (greetings.Count(g => g == "< hi >") == 32 || DateTime.UtcNow > deadline)
                {
                    Assert.Equal(32, greetings.Count(g => g == "< hi >"));
                    Assert.Equal(8, greetings.Count(g => g == "< error too many sessions >"));
                    break;
                }
                Thread.Sleep(200);
            }
            daemon.Process.WaitForLog("32 sessions already: further connections are refused");
            // None of the 32 opens the bus: all are closed after 10 s, and a client is served again.
            Assert.All(idle, c => Assert.True(c.Closed() || c.Closed()));
        }
        finally
        {
            foreach (var client in idle) client.Dispose();
        }
        using var late = SocketcandClient.Raw(port);
        Assert.Equal(0, guest.SendAndWait(CanFrame.Classic(0x1, false, [1])));
        Assert.Matches(@"^ < frame 001 [0-9.]+ 01 >$", late.ReadElement());
        late.Dispose();
        DateTime settle = DateTime.UtcNow + Patience;
        while (daemon.FdCount > fdsBefore && DateTime.UtcNow < settle) Thread.Sleep(100);
        Assert.Equal(fdsBefore, daemon.FdCount);
        Assert.False(daemon.HasExited);
    }
}
