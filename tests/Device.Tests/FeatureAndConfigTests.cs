using VhostDeviceCan.Can;
using VhostDeviceCan.VhostUser;
using VhostDeviceCan.VirtioCanWire;

namespace VhostDeviceCan.Device.Tests;

/// <summary>Feature offer follows the transport (no name rules), and config space is the 2-byte status.</summary>
public sealed class FeatureAndConfigTests
{
    private static ulong Bit(int bit) => 1UL << bit;

    [Theory]
    [InlineData(true, TxConfirmation.None, true, false)]
    [InlineData(false, TxConfirmation.None, false, false)]
    [InlineData(true, TxConfirmation.AtTransmit, true, true)]
    [InlineData(false, TxConfirmation.Deferred, false, true)]
    public void FD_and_LATE_TX_ACK_are_offered_exactly_when_the_transport_can(bool supportsFd, TxConfirmation confirmation, bool fd, bool lateTxAck)
    {
        using var harness = new DeviceHarness(new TestTransport(supportsFd, confirmation));
        var guest = harness.Connect();
        ulong offered = guest.Frontend.Negotiation.OfferedFeatures;
        Assert.Equal(fd, (offered & Bit(VirtioCan.VIRTIO_CAN_F_CAN_FD)) != 0);
        Assert.Equal(lateTxAck, (offered & Bit(VirtioCan.VIRTIO_CAN_F_LATE_TX_ACK)) != 0);
        // Always: classic, RTR (with classic), VERSION_1 (Linux refuses a device without it), protocol features.
        Assert.NotEqual(0UL, offered & Bit(VirtioCan.VIRTIO_CAN_F_CAN_CLASSIC));
        Assert.NotEqual(0UL, offered & Bit(VirtioCan.VIRTIO_CAN_F_RTR_FRAMES));
        Assert.NotEqual(0UL, offered & Bit(VirtioFeatures.VIRTIO_F_VERSION_1));
        Assert.NotEqual(0UL, offered & Bit(VirtioFeatures.VHOST_USER_F_PROTOCOL_FEATURES));
        // No device-specific bit beyond the four the spec defines.
        Assert.Equal(0UL, offered & 0xFFFFF0UL);
        Assert.Equal(fd, guest.Has(VirtioCan.VIRTIO_CAN_F_CAN_FD));
    }

    [Fact]
    public void A_classic_only_transport_refuses_FD_requests_from_a_guest_that_asks_anyway()
    {
        using var harness = new DeviceHarness(new TestTransport(supportsFd: false));
        var guest = harness.ConnectStarted();
        Assert.False(guest.Has(VirtioCan.VIRTIO_CAN_F_CAN_FD));
        byte[] request = Wire.TxRequest(12, VirtioCan.VIRTIO_CAN_FLAGS_FD, 0x1);
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_NOT_OK, guest.SendRawAndWait(request, timeout: DeviceHarness.Timeout));
        Assert.Equal(1, harness.Counters.TxRejected(TxVerdict.FdNotNegotiated));
        Assert.Equal(0, harness.Transport.TransmitCalls);
    }

    [Theory]
    [InlineData(0u, 16u)]
    [InlineData(0u, 2u)]
    [InlineData(0u, 1u)]
    [InlineData(1u, 1u)]
    [InlineData(2u, 14u)]
    [InlineData(8u, 8u)]
    public void Config_reads_are_the_status_then_zeros(uint offset, uint size)
    {
        using var harness = new DeviceHarness();
        var guest = harness.ConnectStarted();
        harness.Transport.SetBusState(CanBusState.BusOff);
        Assert.True(guest.WaitForConfigChange(DeviceHarness.Timeout));

        byte[] config = guest.Frontend.GetConfig(offset, size);
        byte[] expected = new byte[size];
        byte[] status = [0x01, 0x00]; // le16 VIRTIO_CAN_S_CTRL_BUSOFF
        for (uint i = 0; i < size; i++)
            if (offset + i < 2) expected[i] = status[offset + i];
        Assert.Equal(expected, config);
    }

    [Fact]
    public void Config_writes_are_refused_and_change_nothing()
    {
        using var harness = new DeviceHarness();
        var guest = harness.ConnectStarted();
        Assert.ThrowsAny<Exception>(() => guest.Frontend.SetConfig(0, [0x01, 0x00]));
        // The connection survives a refused write (or is replaced): the status stays 0.
        Assert.Equal(0, harness.Device.Status);
    }
}
