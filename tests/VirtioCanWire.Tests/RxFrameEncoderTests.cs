using VhostDeviceCan.Can;
using static VhostDeviceCan.VirtioCanWire.Tests.Features;

namespace VhostDeviceCan.VirtioCanWire.Tests;

public class RxFrameEncoderTests
{
    private const byte Untouched = 0xEE;

    // Frame columns: can_id (with SocketCAN flags), len, canfd flags, data. Output columns:
    // msg_type | length | rsv_dlc pad | rsv_xl | flags | can_id | sdu
    [Theory]
    [InlineData(0x123u, 4, 0, "DEADBEEF", C, 24, "0101 0400 00 00 0000 00000000 23010000 DEADBEEF")]
    [InlineData(0x123u, 0, 0, "", C, 16, "0101 0000 00 00 0000 00000000 23010000")]
    [InlineData(0x123u, 8, 0, "1122334455667788", C, 24, "0101 0800 00 00 0000 00000000 23010000 1122334455667788")]
    [InlineData(0x92345678u, 1, 0, "AA", C | F, 80, "0101 0100 00 00 0000 00800000 78563412 AA")]
    // Remote: length = DLC and that many zero bytes, whatever the frame's buffer holds (docs/spec/virtio-can.md §9, docs/spec/linux-driver.md §8.2).
    [InlineData(0x40000123u, 4, 0, "AABBCCDD", C | R, 24, "0101 0400 00 00 0000 00200000 23010000 00000000")]
    [InlineData(0xC0000123u, 0, 0, "", C | R, 24, "0101 0000 00 00 0000 00A00000 23010000")]
    // FD: BRS and ESI are not expressible and vanish; the frame is still FD.
    [InlineData(0x123u, 12, 0x07, "0102030405060708090A0B0C", F, 80, "0101 0C00 00 00 0000 00400000 23010000 0102030405060708090A0B0C")]
    [InlineData(0x9FFFFFFFu, 0, 0x04, "", C | F, 80, "0101 0000 00 00 0000 00C00000 FFFFFF1F")]
    public void Frames_are_written_header_then_payload(uint canId, int len, int flags, string data, int features, int bufferLength, string expected)
    {
        var frame = Make(canId, len, flags, data);
        byte[] buffer = NewBuffer(bufferLength);
        var verdict = RxFrameEncoder.Encode(in frame, (ulong)features, buffer, out int used);

        Assert.Equal(RxVerdict.Ok, verdict);
        byte[] wire = Hex.Parse(expected);
        Assert.Equal(wire.Length, used);
        Assert.Equal(16 + len, used);
        Assert.Equal(Hex.Format(wire), Hex.Format(buffer.AsSpan(0, used)));
        Assert.All(buffer[used..], b => Assert.Equal(Untouched, b));
    }

    [Theory]
    [InlineData(0x20000040u, 8, 0, All, 80, RxVerdict.ErrorFrame)]
    [InlineData(0x20000004u, 8, 0x04, All, 80, RxVerdict.ErrorFrame)]
    [InlineData(0x123u, 8, 0x04, C | R, 80, RxVerdict.FdNotNegotiated)]
    [InlineData(0x123u, 8, 0, F, 80, RxVerdict.ClassicNotNegotiated)]
    [InlineData(0x40000123u, 0, 0, F | R, 80, RxVerdict.ClassicNotNegotiated)]
    [InlineData(0x40000123u, 4, 0, C | F, 80, RxVerdict.RtrNotNegotiated)]
    [InlineData(0x40000123u, 4, 0x04, All, 80, RxVerdict.RtrWithFd)]
    [InlineData(0x123u, 9, 0, All, 80, RxVerdict.LengthOutOfRange)]
    [InlineData(0x40000123u, 9, 0, All, 80, RxVerdict.LengthOutOfRange)]
    [InlineData(0x123u, 65, 0x04, All, 80, RxVerdict.LengthOutOfRange)]
    [InlineData(0x800u, 0, 0, All, 80, RxVerdict.IdOutOfRange)]
    [InlineData(0x123u, 8, 0, C, 23, RxVerdict.BufferTooSmall)]
    [InlineData(0x123u, 0, 0, C, 15, RxVerdict.BufferTooSmall)]
    [InlineData(0x40000123u, 8, 0, C | R, 16, RxVerdict.BufferTooSmall)]
    [InlineData(0x123u, 64, 0x04, F, 79, RxVerdict.BufferTooSmall)]
    [InlineData(0x123u, 12, 0x04, C | F, 24, RxVerdict.BufferTooSmall)]
    public void Dropped_frames_write_nothing(uint canId, int len, int flags, int features, int bufferLength, RxVerdict expected)
    {
        var frame = Make(canId, len, flags, "");
        byte[] buffer = NewBuffer(bufferLength);
        var verdict = RxFrameEncoder.Encode(in frame, (ulong)features, buffer, out int used);

        Assert.Equal(expected, verdict);
        Assert.Equal(0, used);
        Assert.All(buffer, b => Assert.Equal(Untouched, b));
    }

    [Fact]
    public void Classic_len8_dlc_is_not_carried()
    {
        var frame = CanFrame.Classic(0x10, false, new byte[8]) with { Len8Dlc = 0xF };
        byte[] buffer = NewBuffer(24);
        Assert.Equal(RxVerdict.Ok, RxFrameEncoder.Encode(in frame, C, buffer, out _));
        Assert.Equal(0, buffer[4]);
    }

    [Theory]
    [InlineData("0100 0400 00 00 0000 00000000 23010000 DEADBEEF")]
    [InlineData("0100 0100 00 00 0000 00800000 78563412 00")]
    [InlineData("0100 0400 00 00 0000 00200000 23010000 00000000")]
    [InlineData("0100 0C00 00 00 0000 00C00000 FFFFFF1F 0102030405060708090A0B0C")]
    public void Tx_request_round_trips_to_the_same_rx_buffer(string request)
    {
        byte[] tx = Hex.Parse(request);
        Assert.Equal(TxVerdict.Ok, TxRequestDecoder.Decode(tx, All, out var frame));
        byte[] rx = new byte[80];
        Assert.Equal(RxVerdict.Ok, RxFrameEncoder.Encode(in frame, All, rx, out int used));
        tx[0] = 0x01;
        tx[1] = 0x01; // VIRTIO_CAN_RX
        Assert.Equal(Hex.Format(tx), Hex.Format(rx.AsSpan(0, used)));
    }

    private static CanFrame Make(uint canId, int len, int flags, string data)
    {
        var frame = new CanFrame { CanId = canId, Len = (byte)len, Flags = (byte)flags };
        Hex.Parse(data).CopyTo(frame.DataBuffer);
        return frame;
    }

    private static byte[] NewBuffer(int length) => Enumerable.Repeat(Untouched, length).ToArray();
}
