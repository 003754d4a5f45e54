using VhostDeviceCan.Can;
using VhostDeviceCan.VirtioCanWire;
using static VhostDeviceCan.Device.Tests.Wire;

namespace VhostDeviceCan.Device.Tests;

/// <summary>Controlq requests (docs/spec/virtio-can.md §7): every request gets an answer, in order.</summary>
public sealed class ControlTests
{
    private const ushort Start = VirtioCan.VIRTIO_CAN_SET_CTRL_MODE_START;
    private const ushort Stop = VirtioCan.VIRTIO_CAN_SET_CTRL_MODE_STOP;
    private const int Ok = VirtioCan.VIRTIO_CAN_RESULT_OK;
    private const int NotOk = VirtioCan.VIRTIO_CAN_RESULT_NOT_OK;

    /// <summary>(state before, request, answer, started after). START while started and STOP while
    /// stopped answer OK: the mode already holds, and NOT_OK would fail Linux's open with -EIO (docs/spec/virtio-can.md §7).</summary>
    public static TheoryData<bool, ushort, int, bool, int> Requests => new()
    {
        { false, Start, Ok, true, 0 },
        { true, Start, Ok, true, 0 },
        { true, Stop, Ok, false, 0 },
        { false, Stop, Ok, false, 0 },
        { false, 0x0203, NotOk, false, 1 },
        { true, 0x0203, NotOk, true, 1 },
        { true, 0x0000, NotOk, true, 1 },
        { false, VirtioCan.VIRTIO_CAN_TX, NotOk, false, 1 },
        { true, VirtioCan.VIRTIO_CAN_RX, NotOk, true, 1 },
        { false, 0xFFFF, NotOk, false, 1 },
        // Byte-swapped START: msg_type is little-endian.
        { false, 0x0102, NotOk, false, 1 },
    };

    [Theory]
    [MemberData(nameof(Requests))]
    public void Control_request_is_answered(bool startedBefore, ushort request, int answer, bool startedAfter, int rejected)
    {
        using var harness = new DeviceHarness();
        var guest = harness.Connect();
        if (startedBefore) Assert.True(guest.Start(DeviceHarness.Timeout));
        Assert.Equal(answer, guest.Control(request, DeviceHarness.Timeout));
        Assert.Equal(startedAfter, harness.Device.IsStarted);
        Assert.Equal(rejected, harness.Counters.ControlRejected);
        // And the state is really what the answer says: TX is accepted only when started.
        byte tx = guest.SendAndWait(CanFrame.Classic(0x1, false, [1]), DeviceHarness.Timeout);
        Assert.Equal(startedAfter ? Ok : NotOk, tx);
    }

    public static TheoryData<byte[]> ShortRequests => new() { new byte[] { 0x01 }, new byte[] { 0x02 } };

    [Theory]
    [MemberData(nameof(ShortRequests))]
    public void Request_shorter_than_2_bytes_is_NOT_OK(byte[] request)
    {
        using var harness = new DeviceHarness();
        var guest = harness.Connect();
        (uint used, int result) = RawControl(guest, request);
        Assert.Equal(1u, used);
        Assert.Equal(NotOk, result);
        Assert.False(harness.Device.IsStarted);
        Assert.Equal(1, harness.Counters.ControlRejected);
        Assert.True(guest.Start(DeviceHarness.Timeout), "the queue works after a short request");
    }

    [Fact]
    public void Request_without_result_byte_is_used_with_length_0_and_still_acts()
    {
        using var harness = new DeviceHarness();
        var guest = harness.Connect();
        (uint used, int result) = RawControl(guest, [0x01, 0x02], withResult: false);
        Assert.Equal(0u, used);
        Assert.Equal(-1, result);
        // A later STOP still gets its answer.
        Assert.True(guest.Stop(DeviceHarness.Timeout));
    }

    [Fact]
    public void Requests_split_over_descriptors_and_longer_than_2_bytes_are_read_by_content()
    {
        using var harness = new DeviceHarness();
        var guest = harness.Connect();
        // Extra trailing bytes after msg_type do not change its meaning.
        (uint used, int result) = RawControl(guest, [0x01, 0x02, 0xFF, 0xFF]);
        Assert.Equal(1u, used);
        Assert.Equal(Ok, result);
        Assert.True(harness.Device.IsStarted);
    }

    [Fact]
    public void START_is_refused_while_the_transport_is_down()
    {
        using var harness = new DeviceHarness();
        var guest = harness.Connect();
        harness.Transport.SetBusState(CanBusState.Down);
        Assert.False(guest.Start(DeviceHarness.Timeout));
        Assert.False(harness.Device.IsStarted);
        harness.Transport.SetBusState(CanBusState.Active);
        DeviceHarness.Settle(guest);
        Assert.True(guest.Start(DeviceHarness.Timeout));
    }
}
