using VhostDeviceCan.Can;
using VhostDeviceCan.VirtioCanWire;
using static VhostDeviceCan.Device.Tests.Wire;

namespace VhostDeviceCan.Device.Tests;

/// <summary>
/// Every malformed Txq request (docs/spec/virtio-can.md §8) is answered NOT_OK, never reaches the bus, is
/// counted under its own verdict, and leaves the queue working for the next good request.
/// </summary>
public sealed class TxRequestTests
{
    private const uint Ext = VirtioCan.VIRTIO_CAN_FLAGS_EXTENDED;
    private const uint FdFlag = VirtioCan.VIRTIO_CAN_FLAGS_FD;
    private const uint RtrFlag = VirtioCan.VIRTIO_CAN_FLAGS_RTR;

    public static TheoryData<string, int, byte[], TxVerdict> Malformed => new()
    {
        { "15 readable bytes", All, TxRequest(0, 0, 0x123)[..15], TxVerdict.TooShort },
        { "empty header", All, TxRequest(0, 0, 0x123)[..1], TxVerdict.TooShort },
        { "msg_type RX", All, TxRequest(1, 0, 0x123, msgType: VirtioCan.VIRTIO_CAN_RX), TxVerdict.BadMessageType },
        { "msg_type 0", All, TxRequest(1, 0, 0x123, msgType: 0), TxVerdict.BadMessageType },
        { "msg_type START on Txq", All, TxRequest(1, 0, 0x123, msgType: VirtioCan.VIRTIO_CAN_SET_CTRL_MODE_START), TxVerdict.BadMessageType },
        { "flag bit 0", All, TxRequest(1, 0x0001, 0x123), TxVerdict.UndefinedFlags },
        { "flag bit 12", All, TxRequest(1, 0x1000, 0x123), TxVerdict.UndefinedFlags },
        { "flag bit 16", All, TxRequest(1, 0x10000, 0x123), TxVerdict.UndefinedFlags },
        { "flag bit 31 with EXTENDED", All, TxRequest(1, 0x80000000 | Ext, 0x123), TxVerdict.UndefinedFlags },
        { "FD without CAN_FD", Classic | Rtr, TxRequest(8, FdFlag, 0x123), TxVerdict.FdNotNegotiated },
        { "classic without CAN_CLASSIC", Fd, TxRequest(8, 0, 0x123), TxVerdict.ClassicNotNegotiated },
        { "RTR without RTR_FRAMES", Classic | Fd, TxRequest(4, RtrFlag, 0x123), TxVerdict.RtrNotNegotiated },
        { "RTR without CAN_CLASSIC", Fd, TxRequest(4, RtrFlag, 0x123), TxVerdict.ClassicNotNegotiated },
        { "RTR and FD", All, TxRequest(4, RtrFlag | FdFlag, 0x123), TxVerdict.RtrWithFd },
        { "classic length 9", All, TxRequest(9, 0, 0x123), TxVerdict.LengthOutOfRange },
        { "classic length 4095", All, TxRequest(4095, 0, 0x123, payloadBytes: 8), TxVerdict.LengthOutOfRange },
        { "FD length 65", All, TxRequest(65, FdFlag, 0x123, payloadBytes: 64), TxVerdict.LengthOutOfRange },
        { "RTR length 9", All, TxRequest(9, RtrFlag, 0x123), TxVerdict.LengthOutOfRange },
        { "classic 8 bytes, 4 present", All, TxRequest(8, 0, 0x123, payloadBytes: 4), TxVerdict.PayloadTruncated },
        { "classic 1 byte, none present", All, TxRequest(1, 0, 0x123, payloadBytes: 0), TxVerdict.PayloadTruncated },
        { "FD 64 bytes, 10 present", All, TxRequest(64, FdFlag, 0x123, payloadBytes: 10), TxVerdict.PayloadTruncated },
        { "standard ID 0x800", All, TxRequest(1, 0, 0x800), TxVerdict.StandardIdOutOfRange },
        { "standard ID with bit 29", All, TxRequest(1, 0, 0x20000123), TxVerdict.StandardIdOutOfRange },
        { "standard ID with SocketCAN EFF bit", All, TxRequest(1, 0, 0x80000123), TxVerdict.StandardIdOutOfRange },
        { "extended ID 0x20000000", All, TxRequest(1, Ext, 0x20000000), TxVerdict.ExtendedIdOutOfRange },
        { "extended ID 0xFFFFFFFF", All, TxRequest(1, Ext, 0xFFFFFFFF), TxVerdict.ExtendedIdOutOfRange },
        { "extended FD ID with SocketCAN ERR bit", All, TxRequest(12, Ext | FdFlag, 0x20000001), TxVerdict.ExtendedIdOutOfRange },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_request_is_NOT_OK_counted_and_the_next_good_one_works(string name, int features, byte[] request, TxVerdict verdict)
    {
        using var harness = new DeviceHarness();
        var guest = harness.ConnectStarted(Features(features));

        int result = guest.SendRawAndWait(request, timeout: DeviceHarness.Timeout);

        Assert.True(result == VirtioCan.VIRTIO_CAN_RESULT_NOT_OK, $"{name}: result {result}");
        Assert.Equal(1, harness.Counters.TxRejected(verdict));
        Assert.Equal(1, harness.Counters.TxRejectedTotal);
        Assert.Equal(0, harness.Transport.TransmitCalls);

        // The queue keeps working: a good frame of a negotiated kind goes out unchanged.
        CanFrame good = (features & Classic) != 0
            ? CanFrame.Classic(0x321, false, [1, 2, 3])
            : CanFrame.Fd(0x321, false, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, guest.SendAndWait(good, DeviceHarness.Timeout));
        Assert.Equal([good], harness.Transport.Sent);
        Assert.Equal(1, harness.Counters.TxFrames);
    }

    public static TheoryData<string, int, byte[], CanFrame> WellFormed => new()
    {
        // Bytes after 16 + length are not part of the frame (docs/spec/virtio-can.md §8.6 reads only what it needs).
        { "classic with trailing bytes", All, TxRequest(2, 0, 0x7FF, payloadBytes: 8), CanFrame.Classic(0x7FF, false, [0xA0, 0xA1]) },
        { "extended max ID", All, TxRequest(0, Ext, 0x1FFFFFFF), CanFrame.Classic(0x1FFFFFFF, true, []) },
        // The Linux driver sends RTR with len zero bytes; a request without them is fine too.
        { "RTR without payload bytes", All, TxRequest(5, RtrFlag, 0x10, payloadBytes: 0), CanFrame.Remote(0x10, false, 5) },
        { "RTR with payload bytes", All, TxRequest(8, RtrFlag | Ext, 0x10, payloadBytes: 8), CanFrame.Remote(0x10, true, 8) },
        // docs/spec/virtio-can.md §6: Linux passes an FD len between DLC steps through; the host stack pads it.
        { "FD length 9 rounds to 12", All, TxRequest(9, FdFlag, 0x55), CanFrame.Fd(0x55, false, [0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8]) },
        { "reserved header bytes ignored", All, WithReserved(TxRequest(1, 0, 0x1)), CanFrame.Classic(0x1, false, [0xA0]) },
    };

    [Theory]
    [MemberData(nameof(WellFormed))]
    public void Well_formed_request_goes_out_as_this_frame(string name, int features, byte[] request, CanFrame expected)
    {
        using var harness = new DeviceHarness();
        var guest = harness.ConnectStarted(Features(features));
        Assert.True(guest.SendRawAndWait(request, timeout: DeviceHarness.Timeout) == VirtioCan.VIRTIO_CAN_RESULT_OK, name);
        Assert.Equal([expected], harness.Transport.Sent);
    }

    [Fact]
    public void Request_without_a_writable_result_byte_is_used_with_length_0()
    {
        using var harness = new DeviceHarness();
        var guest = harness.ConnectStarted();

        // A valid frame but no byte to write the result to: docs/spec/virtio-can.md §8.6, used len 0, which Linux reads as NOT_OK.
        Assert.True(guest.TrySendRaw(TxRequest(1, 0, 0x123), withResult: false));
        guest.Flush();
        Assert.Equal(0u, TakeUsed(guest, VirtioCan.TxQueue));
        Assert.Equal(1, harness.Counters.TxMalformedChains);
        Assert.Equal(0, harness.Transport.TransmitCalls);

        CanFrame good = CanFrame.Classic(0x124, false, [9]);
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, guest.SendAndWait(good, DeviceHarness.Timeout));
        Assert.Equal([good], harness.Transport.Sent);
    }

    [Fact]
    public void Malformed_requests_between_good_ones_keep_the_order_of_results()
    {
        using var harness = new DeviceHarness();
        var guest = harness.ConnectStarted();
        for (int i = 0; i < 30; i++)
        {
            if (i % 3 == 1) Assert.True(guest.TrySendRaw(TxRequest(9, 0, (uint)i)));
            else Assert.True(guest.TrySend(CanFrame.Classic((uint)i, false, [(byte)i])));
        }
        guest.Flush();
        byte[] results = DeviceHarness.CollectTx(guest, 30);
        for (int i = 0; i < 30; i++)
            Assert.Equal(i % 3 == 1 ? VirtioCan.VIRTIO_CAN_RESULT_NOT_OK : VirtioCan.VIRTIO_CAN_RESULT_OK, results[i]);
        Assert.Equal(Enumerable.Range(0, 30).Where(i => i % 3 != 1).Select(i => (uint)i), harness.Transport.Sent.Select(f => f.Id));
        Assert.Equal(10, harness.Counters.TxRejected(TxVerdict.LengthOutOfRange));
    }

    private static byte[] WithReserved(byte[] request)
    {
        request[4] = 0x0F; // reserved_classic_dlc
        request[5] = 0xFF; // padding
        request[6] = 0x12; // reserved_xl_priority
        request[7] = 0x34;
        return request;
    }
}
