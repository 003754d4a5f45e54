namespace VhostDeviceCan.Daemon.Tests;

/// <summary>vhost-can-sim mesh against the published daemon: several guests on one bus, all
/// sending unpaced, each receiving every frame of the others in order.</summary>
public sealed class MeshTests
{
    [Fact]
    public void Four_guests_sending_unpaced_each_receive_every_frame_of_the_others_in_order()
    {
        using var daemon = DaemonProcess.Start(4);
        using var mesh = new ChildProcess("vhost-can-sim", ["mesh", daemon.Prefix, "4", "--frames", "20000", "--daemon-pid", daemon.Pid.ToString()]);
        Assert.Equal(0, mesh.WaitForExit(TimeSpan.FromMinutes(2)));
        // 5,000 frames from each guest, received by the three others.
        mesh.WaitForOutput(@"^delivered +[\d,]+ frames/s \(sum over receivers\); 60,000 of 60,000 in ");
        mesh.WaitForOutput(@"^loss +lost 0, duplicates or out of order 0, not from another member 0$");
        mesh.WaitForOutput(@"^daemon CPU +[\d.]+ µs per delivered frame");
    }

    [Theory]
    [InlineData("1")]
    [InlineData("65")]
    [InlineData("four")]
    public void A_guest_count_out_of_range_exits_2_with_one_line(string guests)
    {
        using var mesh = new ChildProcess("vhost-can-sim", ["mesh", "/nonexistent/can.sock", guests]);
        Assert.Equal(2, mesh.WaitForExit());
        Assert.Empty(mesh.Stdout);
        string line = Assert.Single(mesh.Stderr);
        Assert.Equal($"vhost-can-sim: error: GUESTS wants a whole number from 2 to 64; got '{guests}'", line);
    }

    [Fact]
    public void Missing_sockets_exit_3_with_one_line()
    {
        using var mesh = new ChildProcess("vhost-can-sim", ["mesh", "/nonexistent/can.sock", "2"]);
        Assert.Equal(3, mesh.WaitForExit());
        string line = Assert.Single(mesh.Stderr);
        Assert.Contains("/nonexistent/can.sock0", line);
    }
}
