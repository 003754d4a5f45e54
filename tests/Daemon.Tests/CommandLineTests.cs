namespace VhostDeviceCan.Daemon.Tests;

/// <summary>Every bad command line: one line on stderr naming the problem, exit status 2.</summary>
public sealed class CommandLineTests
{
    private const string Prefix = "/tmp/vdc-e2e-cli.sock";

    public static TheoryData<string[], string> BadInputs => new()
    {
        { ["-s", Prefix, "-c", "0"], "--socket-count" },
        { ["-s", Prefix, "-c", "65"], "--socket-count" },
        { ["-s", Prefix, "-c", "-1"], "-1" },
        { ["-s", Prefix, "-c", "abc"], "abc" },
        { ["-c", "1"], "--socket-path" },
        { [], "--socket-path" },
        { ["-s", Prefix, "-c", "2", "-d", "vbus:a"], "--socket-count is 2" },
        { ["-s", Prefix, "-c", "1", "-d", "vbus:a vbus:b"], "2 device(s)" },
        { ["-s", Prefix, "-d", "can0123456789abcd"], "can0123456789abcd" },
        { ["-s", Prefix, "-d", "can/0"], "can/0" },
        { ["-s", Prefix, "-d", "vbus:"], "vbus:" },
        { ["-s", Prefix, "-d", "vbus:a!b"], "vbus:a!b" },
        { ["-s", Prefix, "-d", "vbus:a:b"], "vbus:a:b" },
        { ["-s", Prefix, "-d", "vbus:a,overrun-ms=0"], "overrun-ms=0" },
        { ["-s", Prefix, "-d", "vbus:a,overrun-ms=60001"], "from 1 to 60000" },
        { ["-s", Prefix, "-d", "vbus:a,overrun-ms=-5"], "overrun-ms=-5" },
        { ["-s", Prefix, "-d", "vbus:a,fast"], "'fast'" },
        { ["-s", Prefix, "-d", "vbus:a,overrun-ms=5,overrun-ms=5"], "given twice" },
        { ["-s", Prefix, "-d", "vbus:a,bitrate=999"], "from 1000 to 1000000" },
        { ["-s", Prefix, "-d", "vbus:a,bitrate=1000001"], "bitrate=1000001" },
        { ["-s", Prefix, "-d", "vbus:a,bitrate=fast"], "bitrate=fast" },
        { ["-s", Prefix, "-d", "vbus:a,bitrate=500000,dbitrate=15000001"], "from 1000 to 15000000" },
        { ["-s", Prefix, "-d", "vbus:a,dbitrate=2000000"], "needs bitrate=N" },
        { ["-s", Prefix, "-d", "vbus:a,bitrate=500000,dbitrate=250000"], "below bitrate=500000" },
        { ["-s", Prefix, "-d", "vbus:a,bitrate=500000,bitrate=500000"], "given twice" },
        { ["-s", Prefix, "-c", "2", "-d", "vbus:a,bitrate=500000 vbus:a,bitrate=250000"], "one bus has one timing" },
        { ["-s", Prefix, "-d", "can0,overrun-ms=5"], "can0,overrun-ms=5" },
        { ["-s", Prefix, "-c", "2", "-d", "vbus:a,overrun-ms=50 vbus:a,overrun-ms=60"], "one bus has one bound" },
        { ["-s", Prefix, "--bogus"], "--bogus" },
        { ["-s", Prefix, "extra"], "extra" },
        { ["-s", "/tmp/" + new string('a', 110)], "too long" },
        { ["-s", "/nonexistent-vdc/dir/can.sock"], "/nonexistent-vdc/dir" },
        { ["-s", Prefix, "--log-level", "loud"], "loud" },
        { ["-s", Prefix, "-l", ""], "--log-level" },
        { ["-s"], "'-s'" },
        { ["-s", Prefix, "--busy-poll", "-5"], "--busy-poll" },
        { ["-s", Prefix, "--busy-poll", "100001"], "--busy-poll" },
        { ["-s", Prefix, "--busy-poll", "fast"], "fast" },
        { ["-s", Prefix, "--tx-filter", "0"], "is not SOCKET=RULES" },
        { ["-s", Prefix, "--tx-filter", "x=123"], "is not SOCKET=RULES" },
        { ["-s", Prefix, "--tx-filter", "1=123"], "sockets are numbered 0 to 0" },
        { ["-s", Prefix, "--tx-filter", "0=800"], "above 7FF" },
        { ["-s", Prefix, "--rx-filter", "0=100:FFFF"], "'100:FFFF'" },
        { ["-s", Prefix, "-c", "2", "--rx-filter", "1=1", "--rx-filter", "1=2"], "twice for socket 1" },
        { ["-s", Prefix, "--socket-fd", "200"], "not both" },
        { ["--socket-fd", "1"], "standard input" },
        { ["--socket-fd", "200", "--socket-fd", "200"], "given twice" },
        { ["--socket-fd", "200", "-c", "2"], "--socket-count is 2" },
        { ["--socket-fd", "200"], "fd 200 is not a socket" },
        { ["--socket-fd", "x"], "'x'" },
        { ["-s", Prefix, "--tx-rate", "1000"], "is not SOCKET=RATE[/BURST]" },
        { ["-s", Prefix, "--tx-rate", "0=0"], "from 1 to" },
        { ["-s", Prefix, "--tx-rate", "0=fast"], "'0=fast'" },
        { ["-s", Prefix, "--tx-rate", "0=100/0"], "burst" },
        { ["-s", Prefix, "--tx-rate", "0=100/"], "burst" },
        { ["-s", Prefix, "--tx-rate", "0=99999999"], "rate" },
        { ["-s", Prefix, "--fault", "0=tx:drop=5"], "percentage" },
        { ["-s", Prefix, "--fault", "1=tx:drop=5%"], "sockets are numbered 0 to 0" },
        { ["-s", Prefix, "--fault", "/tmp/other.sock0=tx:drop=5%"], "neither a socket index nor one of the socket paths" },
        { ["-s", Prefix, "--fault", "0=rx:refuse-every=2"], "tx only" },
        { ["-s", Prefix, "--fault", "0=tx:drop-every=2", "--fault", "0=tx:drop=1%"], "drop is given twice" },
        { ["-s", Prefix, "--fault", "0"], "is not SOCKET=SPEC" },
        { ["-s", Prefix, "--bridge", "vbus:a=carrier-pigeon:1"], "unknown kind 'carrier-pigeon'" },
        { ["-s", Prefix, "--bridge", "can0=cannelloni-udp:1@127.0.0.1:2"], "is not vbus:NAME=KIND:ARGUMENTS" },
        { ["-s", Prefix, "--bridge", "vbus:a"], "is not vbus:NAME=KIND:ARGUMENTS" },
        { ["-s", Prefix, "--bridge", "vbus:a=cannelloni-udp:20001"], "no '@PEER_ADDRESS:PEER_PORT'" },
        { ["-s", Prefix, "--bridge", "vbus:a=cannelloni-udp:20001@localhost:20000"], "host names are not resolved" },
        { ["-s", Prefix, "--bridge", "vbus:a=cannelloni-udp:20001@127.0.0.1:0"], "port 0" },
        { ["-s", Prefix, "--bridge", "vbus:a=cannelloni-udp:[::1]:1@127.0.0.1:2"], "both be IPv4 or both IPv6" },
        { ["-s", Prefix, "--bridge", "vbus:a=socketcand:99999"], "the port must be a number from 0 to 65535" },
        { ["-s", Prefix, "--bridge", "vbus:a=socketcand:"], "the port must be a number" },
        { ["-s", Prefix, "--bridge", "vbus:a=socketcand:localhost:29536"], "host names are not resolved" },
        { ["-s", Prefix, "--bridge", "socketcand:29536"], "is not vbus:NAME=KIND:ARGUMENTS" },
        { ["-s", Prefix, "--bridge", "vbus:=socketcand:29536"], "is not vbus:NAME=KIND:ARGUMENTS" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Bad_input_prints_one_line_naming_it_and_exits_2(string[] arguments, string named)
    {
        using var daemon = new ChildProcess("vhost-device-can", arguments);
        Assert.Equal(2, daemon.WaitForExit());
        string line = Assert.Single(daemon.Stderr);
        Assert.Contains(named, line);
        Assert.StartsWith("vhost-device-can: error: ", line);
        Assert.DoesNotContain("System.", line); // the user's words, not .NET type names
        Assert.Empty(daemon.Stdout);
    }

    [Theory]
    [InlineData("--help", "--socket-path")]
    [InlineData("-h", "--can-devices")]
    [InlineData("-V", "0.")]
    [InlineData("--version", "0.")]
    public void Help_and_version_exit_0(string option, string shown)
    {
        using var daemon = new ChildProcess("vhost-device-can", [option]);
        Assert.Equal(0, daemon.WaitForExit());
        Assert.Contains(daemon.Stdout, l => l.Contains(shown, StringComparison.Ordinal));
        Assert.Empty(daemon.Stderr);
    }

    [Fact]
    public void Two_sockets_on_one_host_interface_pass_the_option_checks()
    {
        // Accepted: the daemon goes on to open vcan0 for both sockets, which on this host's
        // kernel (no AF_CAN) fails at start (status 1), not as a bad command line (status 2).
        // The shared interface itself is exercised inside UML (SocketCan.Tests, SharedInterfaceTests).
        string directory = DaemonProcess.NewDirectory();
        using var daemon = new ChildProcess("vhost-device-can", ["-s", Path.Combine(directory, "can.sock"), "-c", "2", "-d", "vcan0 vcan0"]);
        Assert.Equal(1, daemon.WaitForExit());
        string line = Assert.Single(daemon.Stderr);
        Assert.StartsWith("vhost-device-can: error: ", line);
        Assert.Contains("CAN interface vcan0", line);
        Assert.Contains("AF_CAN", line);
        Assert.DoesNotContain("more than once", line);
        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public void A_host_interface_without_AF_CAN_fails_at_start_with_one_clear_line()
    {
        // This host's kernel has no AF_CAN (the SocketCAN tests run inside User-Mode Linux).
        string directory = DaemonProcess.NewDirectory();
        using var daemon = new ChildProcess("vhost-device-can", ["-s", Path.Combine(directory, "can.sock"), "-d", "vcan0"]);
        int status = daemon.WaitForExit();
        Assert.NotEqual(0, status);
        string line = Assert.Single(daemon.Stderr);
        // The system call and its errno in the one form of every such message, then what to do.
        Assert.StartsWith("vhost-device-can: error: socket(PF_CAN, SOCK_RAW, CAN_RAW) for CAN interface vcan0: "
            + "Address family not supported by protocol (EAFNOSUPPORT); this kernel has no AF_CAN support", line);
        Assert.False(File.Exists(Path.Combine(directory, "can.sock0")), "a socket file was left behind");
        Directory.Delete(directory, recursive: true);
    }
}
