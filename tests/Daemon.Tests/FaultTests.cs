using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using VhostDeviceCan.VirtioCanWire;
using static VhostDeviceCan.Daemon.Tests.Traffic;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>--fault through the published daemon, seen by simulated guests on its virtual bus.</summary>
public sealed class FaultTests
{

    private static CanFrame Numbered(int i) => CanFrame.Classic(0x100, false, [(byte)i]);

    /// <summary>Asks for SIGUSR2 reports until one matches: the loops update counters on their own threads.</summary>
    private static void WaitForReport(DaemonProcess daemon, string pattern)
    {
        for (int attempt = 0; attempt < 20; attempt++)
        {
            daemon.Signal("USR2");
            try
            {
                daemon.Process.WaitForLog(pattern, TimeSpan.FromMilliseconds(500));
                return;
            }
            catch (TimeoutException)
            {
            }
        }
        Assert.Fail($"no SIGUSR2 report matching {pattern}:\n{daemon.Output}");
    }

    private static List<int> ReceiveAll(VirtioCanGuest guest, int expected)
    {
        var heard = new List<int>();
        var buffer = new CanFrame[64];
        DateTime deadline = DateTime.UtcNow + Patience;
        while (heard.Count < expected && DateTime.UtcNow < deadline)
        {
            int n = guest.Receive(buffer, TimeSpan.FromSeconds(1));
            heard.AddRange(buffer[..n].Select(f => (int)f.Data[0]));
        }
        Assert.True(ReceivesNothing(guest), "more frames than expected");
        return heard;
    }

    [Fact]
    public void Drop_every_tenth_of_a_guests_frames_leaves_exactly_90_of_100_and_is_reported()
    {
        using var daemon = DaemonProcess.Start(2, ["--fault", "0=tx:drop-every=10"]);
        daemon.Process.WaitForLog(@"can\.sock0: injecting faults: tx: drop every 10; seed \d+");
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));

        // The sender is not told: every request completes OK.
        for (int i = 0; i < 100; i++) Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(Numbered(i)));
        Assert.Equal(Enumerable.Range(0, 100).Where(i => (i + 1) % 10 != 0), ReceiveAll(b, 90));
        WaitForReport(daemon, @"SIGUSR2: \S+can\.sock0 on vbus:default: guest connected, controller started; tx 100 .*; faults: tx: drop every 10; seed \d+; tx refused 0, dropped 10, ");
    }

    [Fact]
    public void Refused_frames_complete_NOT_OK_exactly_and_never_reach_the_other_guest()
    {
        using var daemon = DaemonProcess.Start(2, ["--fault", "0=tx:refuse-every=3"]);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));

        byte[] results = Enumerable.Range(0, 9).Select(i => a.SendAndWait(Numbered(i))).ToArray();
        Assert.Equal(Enumerable.Range(0, 9).Select(i => (i + 1) % 3 == 0 ? VirtioCan.VIRTIO_CAN_RESULT_NOT_OK : VirtioCan.VIRTIO_CAN_RESULT_OK), results);
        Assert.Equal(new[] { 0, 1, 3, 4, 6, 7 }, ReceiveAll(b, 6));
        WaitForReport(daemon, @"SIGUSR2: \S+can\.sock0 .*; faults: .*tx refused 3, dropped 0, ");
    }

    [Fact]
    public void A_socket_may_be_named_by_its_path()
    {
        string folder = DaemonProcess.NewDirectory();
        string prefix = Path.Combine(folder, "can.sock");
        using var daemon = DaemonProcess.Start(2, ["--fault", prefix + "1=rx:drop-every=2"], directory: folder);
        daemon.Process.WaitForLog(@"can\.sock1: injecting faults: rx: drop every 2");
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        for (int i = 0; i < 6; i++) Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(Numbered(i)));
        Assert.Equal(new[] { 0, 2, 4 }, ReceiveAll(b, 3));
    }

    [Fact]
    public void Forced_bus_off_reaches_the_guest_and_its_restart_recovers()
    {
        using var daemon = DaemonProcess.Start(2, ["--fault", "0=bus-off-after=5,recover=restart"]);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));

        for (int i = 0; i < 5; i++) Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(Numbered(i)));
        Assert.True(a.WaitForConfigChange(Patience), "no bus-off notification");
        Assert.Equal(VirtioCan.VIRTIO_CAN_S_CTRL_BUSOFF, a.ReadStatus());
        // Stopped by bus-off: refused until the guest restarts its controller.
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_NOT_OK, a.SendAndWait(Numbered(5)));
        Assert.Equal(Enumerable.Range(0, 5), ReceiveAll(b, 5));

        Assert.True(a.Start(Patience), "restart after bus-off refused");
        Assert.Equal(0, a.ReadStatus());
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(Numbered(6)));
        Assert.Equal(new[] { 6 }, ReceiveAll(b, 1));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, b.SendAndWait(Numbered(7)));
        Assert.Equal(Numbered(7), ReceiveOne(a));
        WaitForReport(daemon, @"SIGUSR2: \S+can\.sock0 .* bus-off 1; .*; faults: .*bus-offs 1, recoveries 1, ");
    }
}
