using System.Buffers.Binary;
using VhostDeviceCan.Can;
using VhostDeviceCan.VirtioCanWire;
using static VhostDeviceCan.Device.Tests.Wire;

namespace VhostDeviceCan.Device.Tests;

/// <summary>Rxq delivery (docs/spec/virtio-can.md §9): only negotiated frame kinds, whole frames only, and
/// exactly the used length the Linux driver checks.</summary>
public sealed class RxTests
{
    private static readonly CanFrame ClassicFrame = CanFrame.Classic(0x123, false, [1, 2, 3, 4, 5, 6, 7, 8]);
    private static readonly CanFrame ExtendedFrame = CanFrame.Classic(0x1ABCDEF0, true, [9]);
    private static readonly CanFrame FdFrame = CanFrame.Fd(0x456, false, Enumerable.Range(0, 64).Select(i => (byte)i).ToArray());
    private static readonly CanFrame FdBrsFrame = CanFrame.Fd(0x457, true, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], CanFrame.CANFD_BRS | CanFrame.CANFD_ESI);
    private static readonly CanFrame RemoteFrame = CanFrame.Remote(0x789, false, 4);
    private static readonly CanFrame ErrorFrame = new() { CanId = CanFrame.CAN_ERR_FLAG | 0x40, Len = 8 };

    /// <summary>(guest features, frame, drop verdict or Ok).</summary>
    public static TheoryData<string, int, CanFrame, RxVerdict> Deliveries => new()
    {
        { "classic to classic guest", Classic, ClassicFrame, RxVerdict.Ok },
        { "extended to classic guest", Classic, ExtendedFrame, RxVerdict.Ok },
        { "FD to classic-only guest", Classic | Rtr, FdFrame, RxVerdict.FdNotNegotiated },
        { "RTR to guest without RTR_FRAMES", Classic | Fd, RemoteFrame, RxVerdict.RtrNotNegotiated },
        { "classic to FD-only guest", Fd, ClassicFrame, RxVerdict.ClassicNotNegotiated },
        { "RTR to FD-only guest", Fd, RemoteFrame, RxVerdict.ClassicNotNegotiated },
        { "FD to FD guest", All, FdFrame, RxVerdict.Ok },
        { "RTR to RTR guest", All, RemoteFrame, RxVerdict.Ok },
        { "error frame to anyone", All, ErrorFrame, RxVerdict.ErrorFrame },
        { "RTR+FD from a broken transport", All, new CanFrame { CanId = 0x1 | CanFrame.CAN_RTR_FLAG, Len = 4, Flags = CanFrame.CANFD_FDF }, RxVerdict.RtrWithFd },
        { "classic len 9 from a broken transport", All, new CanFrame { CanId = 0x1, Len = 9 }, RxVerdict.LengthOutOfRange },
    };

    [Theory]
    [MemberData(nameof(Deliveries))]
    public void Frame_is_delivered_only_when_negotiated(string name, int features, CanFrame frame, RxVerdict verdict)
    {
        using var device = new SyncDevice(canFeatures: features);
        device.Start();
        device.PostRxBuffers(4);
        device.Inject(frame);

        List<CanFrame> received = device.TakeRx();
        if (verdict == RxVerdict.Ok)
        {
            Assert.True(received.Count == 1 && frame == received[0], name);
            Assert.Equal(0, device.Counters.RxDroppedUnsupportedTotal);
        }
        else
        {
            Assert.Empty(received);
            Assert.Equal(1, device.Counters.RxDropped(verdict));
            Assert.Equal(1, device.Counters.RxDroppedUnsupportedTotal);
        }
    }

    [Fact]
    public void BRS_and_ESI_are_not_carried_the_frame_arrives_as_plain_FD()
    {
        using var harness = new DeviceHarness();
        var guest = harness.ConnectStarted();
        harness.Transport.Inject(FdBrsFrame);
        CanFrame received = DeviceHarness.ReceiveFrames(guest, 1)[0];
        Assert.Equal(CanFrame.Fd(0x457, true, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), received);
    }

    [Fact]
    public void Remote_frame_has_length_DLC_and_that_many_zero_bytes()
    {
        using var harness = new DeviceHarness();
        var guest = harness.ConnectStarted(Features(All, postRxBuffers: false));
        ulong gpa = PostRxBuffer(guest, 16 + 64, fill: 0xAA);
        harness.Transport.Inject(CanFrame.Remote(0x1ABCDE, true, 5));

        uint used = TakeUsed(guest, VirtioCan.RxQueue);
        ReadOnlySpan<byte> message = guest.Frontend.Ram.GetSpan(gpa, 16 + 64);
        // docs/spec/linux-driver.md §8.2: the driver drops an RTR frame unless used len >= 16 + length.
        Assert.Equal(16u + 5, used);
        Assert.Equal(VirtioCan.VIRTIO_CAN_RX, BinaryPrimitives.ReadUInt16LittleEndian(message));
        Assert.Equal(5, BinaryPrimitives.ReadUInt16LittleEndian(message[2..]));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(message[4..])); // reserved, padding
        Assert.Equal(VirtioCan.VIRTIO_CAN_FLAGS_RTR | VirtioCan.VIRTIO_CAN_FLAGS_EXTENDED, BinaryPrimitives.ReadUInt32LittleEndian(message[8..]));
        Assert.Equal(0x1ABCDEu, BinaryPrimitives.ReadUInt32LittleEndian(message[12..]));
        Assert.Equal(new byte[5], message.Slice(16, 5).ToArray());
        // Nothing past the used length is touched.
        Assert.True(message[21..].ToArray().All(b => b == 0xAA));
    }

    [Fact]
    public void Used_length_is_header_plus_payload_never_the_whole_buffer()
    {
        using var harness = new DeviceHarness();
        var guest = harness.ConnectStarted(Features(All, postRxBuffers: false));
        ulong gpa = PostRxBuffer(guest, 16 + 64);
        harness.Transport.Inject(CanFrame.Fd(0x10, false, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
        Assert.Equal(16u + 12, TakeUsed(guest, VirtioCan.RxQueue));
        ReadOnlySpan<byte> message = guest.Frontend.Ram.GetSpan(gpa, 16 + 64);
        Assert.Equal(VirtioCan.VIRTIO_CAN_FLAGS_FD, BinaryPrimitives.ReadUInt32LittleEndian(message[8..]));
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }, message.Slice(16, 12).ToArray());
        Assert.True(message[28..].ToArray().All(b => b == 0xAA));
    }

    [Fact]
    public void Buffer_smaller_than_the_frame_is_returned_with_length_0_and_counted()
    {
        using var harness = new DeviceHarness();
        var guest = harness.ConnectStarted(Features(All, postRxBuffers: false));
        ulong small = PostRxBuffer(guest, 16 + 4, fill: 0xAA);
        harness.Transport.Inject(ClassicFrame);

        // docs/spec/virtio-can.md §9: never half a frame; the buffer comes back empty.
        Assert.Equal(0u, TakeUsed(guest, VirtioCan.RxQueue));
        Assert.True(guest.Frontend.Ram.GetSpan(small, 20).ToArray().All(b => b == 0xAA), "the device wrote into a too-small buffer");
        DeviceHarness.Settle(guest);
        Assert.Equal(1, harness.Counters.RxDroppedBufferTooSmall);
        Assert.Equal(0, harness.Counters.RxFrames);

        // The dropped frame is gone; the next frame fills the next (big enough) buffer.
        PostRxBuffer(guest, 16 + 8);
        CanFrame next = CanFrame.Classic(0x124, false, [7]);
        harness.Transport.Inject(next);
        Assert.Equal(16u + 1, TakeUsed(guest, VirtioCan.RxQueue));
        Assert.Equal(1, harness.Counters.RxFrames);
    }

    [Fact]
    public void Frames_wait_for_buffers_and_arrive_in_order()
    {
        using var harness = new DeviceHarness();
        var guest = harness.ConnectStarted(Features(All, postRxBuffers: false));
        for (int i = 0; i < 10; i++) harness.Transport.Inject(CanFrame.Classic((uint)i, false, [(byte)i]));
        Assert.True(harness.Transport.WaitDrained());
        DeviceHarness.Settle(guest);
        Assert.Equal(0, harness.Counters.RxFrames);
        for (int i = 0; i < 10; i++)
        {
            ulong gpa = PostRxBuffer(guest, 16 + 8);
            Assert.Equal(17u, TakeUsed(guest, VirtioCan.RxQueue));
            Assert.Equal((uint)i, BinaryPrimitives.ReadUInt32LittleEndian(guest.Frontend.Ram.GetSpan(gpa + 12, 4)));
        }
    }
}
