using VhostDeviceCan.Can;
using VhostDeviceCan.VirtioCanWire;

namespace VhostDeviceCan.Device.Tests;

/// <summary>Per-guest CAN ID filters: a guest sends only identifiers it owns and hears only
/// the ones it asked for.</summary>
public sealed class IdFilterTests
{
    private static CanIdFilter Filter(string text) => CanIdFilter.Parse(text, out _) ?? throw new ArgumentException(text);

    [Fact]
    public void TX_outside_the_filter_is_NOT_OK_counted_logged_once_and_never_reaches_the_bus()
    {
        using var harness = new DeviceHarness(options: new CanDeviceOptions { TxFilter = Filter("100-1FF,18DAF110") });
        var guest = harness.ConnectStarted();

        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_NOT_OK, guest.SendAndWait(CanFrame.Classic(0x200, false, [1]), DeviceHarness.Timeout));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_NOT_OK, guest.SendAndWait(CanFrame.Classic(0x150, true, [2]), DeviceHarness.Timeout));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, guest.SendAndWait(CanFrame.Classic(0x150, false, [3]), DeviceHarness.Timeout));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, guest.SendAndWait(CanFrame.Fd(0x18DAF110, true, new byte[12]), DeviceHarness.Timeout));
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_NOT_OK, guest.SendAndWait(CanFrame.Remote(0x7DF, false, 0), DeviceHarness.Timeout));

        Assert.Equal([0x150u, 0x18DAF110u], harness.Transport.Sent.Select(f => f.Id));
        Assert.Equal(3, harness.Counters.TxFiltered);
        Assert.Equal(2, harness.Counters.TxFrames);
        Assert.Equal(0, harness.Counters.TxRejectedTotal);
        Assert.Single(harness.Log.Lines, l => l.Contains("outside its TX filter 100-1FF,18DAF110"));
    }

    [Fact]
    public void RX_outside_the_filter_never_reaches_the_guest_and_is_counted()
    {
        using var device = new SyncDevice(options: new CanDeviceOptions { RxFilter = Filter("7DF,700:700") });
        device.Start();
        device.PostRxBuffers(8);

        device.Inject(
            CanFrame.Classic(0x123, false, [1]),
            CanFrame.Classic(0x7DF, false, [2]),
            CanFrame.Classic(0x7DF, true, [3]),
            CanFrame.Classic(0x7E8, false, [4]),
            CanFrame.Classic(0x6FF, false, [5]));

        Assert.Equal([(0x7DFu, (byte)2), (0x7E8u, (byte)4)], device.TakeRx().Select(f => (f.Id, f.Data[0])));
        Assert.Equal(3, device.Counters.RxFiltered);
        Assert.Equal(0, device.Counters.RxDroppedBacklogFull);
    }

    [Fact]
    public void Without_filters_every_identifier_passes_both_ways()
    {
        using var harness = new DeviceHarness();
        var guest = harness.ConnectStarted();
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, guest.SendAndWait(CanFrame.Classic(0x7FF, false, [1]), DeviceHarness.Timeout));
        harness.Transport.InjectAndWaitDrained(CanFrame.Classic(0x1FFFFFFF, true, [2]));
        Assert.Equal(0x1FFFFFFFu, Assert.Single(DeviceHarness.ReceiveFrames(guest, 1)).Id);
        Assert.Equal(0, harness.Counters.TxFiltered + harness.Counters.RxFiltered);
    }
}
