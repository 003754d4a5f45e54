using System.Text.RegularExpressions;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>The vhost-can-sim CLI against the published daemon, as a user runs it.</summary>
public sealed class SimulatorTests
{
    private static ChildProcess Sim(params string[] arguments) => new("vhost-can-sim", arguments);

    [Fact]
    public void Send_reaches_dump_on_the_other_socket_in_candump_format()
    {
        using var daemon = DaemonProcess.Start(2);
        using var dump = Sim("dump", daemon.Socket(1), "-n", "4");
        // dump has started its controller once it says it listens; frames sent before that are not for it.
        dump.WaitFor(dump.Stderr, "listening on", ChildProcess.Timeout);

        using var send = Sim("send", daemon.Socket(0), "123#DEADBEEF", "1F334455#11.22", "7FF#R3", "456##1" + string.Concat(Enumerable.Repeat("AB", 12)));
        Assert.Equal(0, send.WaitForExit());
        Assert.Empty(send.Stderr);

        Assert.Equal(0, dump.WaitForExit());
        string[] lines = [.. dump.Stdout];
        Assert.Equal(4, lines.Length);
        Assert.Equal("  can.sock1  123   [4]  DE AD BE EF", lines[0]);
        Assert.Equal("  can.sock1  1F334455   [2]  11 22", lines[1]);
        Assert.Equal("  can.sock1  7FF   [3]  remote request", lines[2]);
        Assert.Equal("  can.sock1  456  [12]  " + string.Join(' ', Enumerable.Repeat("AB", 12)), lines[3]);
    }

    [Fact]
    public void Dump_in_log_format_prints_cansend_syntax()
    {
        using var daemon = DaemonProcess.Start(2);
        using var dump = Sim("dump", daemon.Socket(1), "-n", "2", "-L");
        dump.WaitFor(dump.Stderr, "listening on", ChildProcess.Timeout);
        using var send = Sim("send", daemon.Socket(0), "001#", "1FFFFFFF#0102030405060708");
        Assert.Equal(0, send.WaitForExit());
        Assert.Equal(0, dump.WaitForExit());
        string[] lines = [.. dump.Stdout];
        Assert.Equal(2, lines.Length);
        Assert.Matches(@"^\(\d{10}\.\d{6}\) can\.sock1 001#$", lines[0]);
        Assert.Matches(@"^\(\d{10}\.\d{6}\) can\.sock1 1FFFFFFF#0102030405060708$", lines[1]);
    }

    [Fact]
    public void Dump_with_timeout_and_too_few_frames_exits_1()
    {
        using var daemon = DaemonProcess.Start(1);
        using var dump = Sim("dump", daemon.Socket(0), "-n", "1", "-T", "0.3");
        Assert.Equal(1, dump.WaitForExit());
        Assert.Empty(dump.Stdout);
    }

    [Fact]
    public void Info_shows_features_status_and_control_answers()
    {
        using var daemon = DaemonProcess.Start(1);
        using var info = Sim("info", daemon.Socket(0));
        Assert.Equal(0, info.WaitForExit());
        var fields = info.Stdout
            .Select(l => Regex.Match(l, @"^([a-zA-Z ]+):\s+(.*)$"))
            .Where(m => m.Success)
            .ToDictionary(m => m.Groups[1].Value.Trim(), m => m.Groups[2].Value);
        Assert.Equal(daemon.Socket(0), fields["socket"]);
        // The virtual bus carries FD and confirms at transmit, so everything is offered.
        foreach (string feature in new[] { "CAN_CLASSIC", "CAN_FD", "RTR_FRAMES", "LATE_TX_ACK", "VERSION_1", "PROTOCOL_FEATURES" })
            Assert.Contains(feature, fields["offered features"]);
        Assert.Contains("LATE_TX_ACK", fields["negotiated"]);
        Assert.Equal("0x0000", fields["config status"]);
        Assert.Equal("OK", fields["START"]);
        Assert.Equal("OK", fields["STOP"]);
    }

    [Theory]
    [InlineData("123DEADBEEF", "missing '#'")]
    [InlineData("12#00", "ID '12'")]
    [InlineData("800#00", "0x800")]
    [InlineData("123#0", "odd number")]
    [InlineData("123#XY", "'XY'")]
    [InlineData("123#000102030405060708", "more than 8")]
    [InlineData("123#R9", "0 to 8")]
    [InlineData("123##1" + "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F40", "more than 64")]
    [InlineData("123##", "flags digit")]
    [InlineData("123##G00", "flags digit")]
    public void Bad_frame_syntax_exits_2_before_connecting(string frame, string named)
    {
        // The socket does not exist: a syntax error must be reported without trying to connect.
        using var send = Sim("send", "/nonexistent-vdc/can.sock0", frame);
        Assert.Equal(2, send.WaitForExit());
        string line = Assert.Single(send.Stderr);
        Assert.Contains(named, line);
        Assert.Contains(frame, line);
    }

    [Fact]
    public void Send_while_the_controller_is_stopped_is_refused_and_exits_1()
    {
        using var daemon = DaemonProcess.Start(1);
        using var send = Sim("send", daemon.Socket(0), "--stopped", "123#01");
        Assert.Equal(1, send.WaitForExit());
        Assert.Contains(send.Stderr, l => l.Contains("NOT_OK", StringComparison.Ordinal));
    }
}
