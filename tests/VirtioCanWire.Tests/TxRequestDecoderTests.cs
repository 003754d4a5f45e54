using VhostDeviceCan.Can;
using static VhostDeviceCan.VirtioCanWire.Tests.Features;

namespace VhostDeviceCan.VirtioCanWire.Tests;

public class TxRequestDecoderTests
{
    // Header columns: msg_type | length | rsv_dlc pad | rsv_xl | flags | can_id | sdu
    [Theory]
    [InlineData("0100 0400 00 00 0000 00000000 23010000 DEADBEEF", C, "123#DEADBEEF")]
    [InlineData("0100 0000 00 00 0000 00000000 23010000", C, "123#")]
    [InlineData("0100 0800 00 00 0000 00000000 FF070000 1122334455667788", C, "7FF#1122334455667788")]
    [InlineData("0100 0100 00 00 0000 00800000 78563412 00", C, "12345678#00")]
    [InlineData("0100 0000 00 00 0000 00800000 FFFFFF1F", C, "1FFFFFFF#")]
    [InlineData("0100 0200 00 00 0000 00000000 23010000 AABB", All, "123#AABB")]
    // Reserved fields are ignored on input (docs/spec/virtio-can.md §5); bytes past 16 + length too.
    [InlineData("0100 0100 0F FF FFFF 00000000 23010000 AA CCCCCC", C, "123#AA")]
    // RTR: the Linux driver sends `length` zero bytes; without them it is accepted too.
    [InlineData("0100 0400 00 00 0000 00200000 23010000 00000000", C | R, "123#R4")]
    [InlineData("0100 0800 00 00 0000 00200000 23010000", C | R, "123#R8")]
    [InlineData("0100 0000 00 00 0000 00A00000 23010000", C | R, "00000123#R")]
    // FD: exact DLC lengths pass through, others round up with zero padding.
    [InlineData("0100 0800 00 00 0000 00400000 23010000 0102030405060708", F, "123##00102030405060708")]
    [InlineData("0100 0900 00 00 0000 00400000 23010000 010203040506070809", F, "123##0010203040506070809000000")]
    [InlineData("0100 0C00 00 00 0000 00400000 23010000 0102030405060708090A0B0C", F, "123##00102030405060708090A0B0C")]
    [InlineData("0100 0000 00 00 0000 00C00000 FFFFFF1F", C | F, "1FFFFFFF##0")]
    public void Valid_requests_become_host_frames(string request, int features, string expected)
    {
        var verdict = TxRequestDecoder.Decode(Hex.Parse(request), (ulong)features, out var frame);
        Assert.Equal(TxVerdict.Ok, verdict);
        Assert.Equal(expected, frame.ToString());
    }

    [Theory]
    [InlineData("", C, TxVerdict.TooShort)]
    [InlineData("0100 0000 00 00 0000 00000000 230100", C, TxVerdict.TooShort)]
    [InlineData("0101 0000 00 00 0000 00000000 23010000", C, TxVerdict.BadMessageType)]
    [InlineData("0000 0000 00 00 0000 00000000 23010000", C, TxVerdict.BadMessageType)]
    [InlineData("0102 0000 00 00 0000 00100000 23010000", C, TxVerdict.BadMessageType)] // checked before flags
    [InlineData("0100 0000 00 00 0000 00100000 23010000", All, TxVerdict.UndefinedFlags)]
    [InlineData("0100 0000 00 00 0000 01000000 23010000", All, TxVerdict.UndefinedFlags)]
    [InlineData("0100 0000 00 00 0000 00000100 23010000", All, TxVerdict.UndefinedFlags)]
    [InlineData("0100 0000 00 00 0000 00400000 23010000", C | R, TxVerdict.FdNotNegotiated)]
    [InlineData("0100 0000 00 00 0000 00000000 23010000", F, TxVerdict.ClassicNotNegotiated)]
    [InlineData("0100 0000 00 00 0000 00200000 23010000", F | R, TxVerdict.ClassicNotNegotiated)] // RTR is classic
    [InlineData("0100 0000 00 00 0000 00200000 23010000", C | F, TxVerdict.RtrNotNegotiated)]
    [InlineData("0100 0000 00 00 0000 00600000 23010000", C | F | R, TxVerdict.RtrWithFd)]
    [InlineData("0100 0900 00 00 0000 00000000 23010000 010203040506070809", C | F, TxVerdict.LengthOutOfRange)]
    [InlineData("0100 0900 00 00 0000 00200000 23010000", C | R, TxVerdict.LengthOutOfRange)]
    [InlineData("0100 4100 00 00 0000 00400000 23010000", F, TxVerdict.LengthOutOfRange)]
    [InlineData("0100 FFFF 00 00 0000 00400000 23010000", F, TxVerdict.LengthOutOfRange)]
    [InlineData("0100 0400 00 00 0000 00000000 23010000 DEADBE", C, TxVerdict.PayloadTruncated)]
    [InlineData("0100 0100 00 00 0000 00400000 23010000", F, TxVerdict.PayloadTruncated)]
    [InlineData("0100 0000 00 00 0000 00000000 00080000", C, TxVerdict.StandardIdOutOfRange)]
    [InlineData("0100 0000 00 00 0000 00000000 23010080", C, TxVerdict.StandardIdOutOfRange)] // SocketCAN EFF bit in can_id
    [InlineData("0100 0000 00 00 0000 00800000 00000020", C, TxVerdict.ExtendedIdOutOfRange)]
    [InlineData("0100 0000 00 00 0000 00800000 FFFFFFFF", C, TxVerdict.ExtendedIdOutOfRange)]
    public void Malformed_requests_are_rejected_with_their_reason(string request, int features, TxVerdict expected)
    {
        var verdict = TxRequestDecoder.Decode(Hex.Parse(request), (ulong)features, out var frame);
        Assert.Equal(expected, verdict);
        Assert.Equal(default, frame);
    }

    [Theory]
    [InlineData(13, 16)]
    [InlineData(17, 20)]
    [InlineData(21, 24)]
    [InlineData(25, 32)]
    [InlineData(33, 48)]
    [InlineData(48, 48)]
    [InlineData(49, 64)]
    [InlineData(64, 64)]
    public void Fd_lengths_round_up_to_the_next_dlc_step(int length, int rounded)
    {
        byte[] request = [.. Hex.Parse($"0100 {length:X2}00 00 00 0000 00400000 23010000"), .. Enumerable.Repeat((byte)0xAB, length)];
        Assert.Equal(TxVerdict.Ok, TxRequestDecoder.Decode(request, F, out var frame));
        Assert.True(frame.IsFd);
        Assert.Equal(CanFrame.CANFD_FDF, frame.Flags);
        Assert.Equal(rounded, frame.Length);
        Assert.All(frame.Data[..length].ToArray(), b => Assert.Equal(0xAB, b));
        Assert.All(frame.Data[length..].ToArray(), b => Assert.Equal(0, b));
    }

    [Fact]
    public void Translated_frame_carries_socketcan_flags()
    {
        TxRequestDecoder.Decode(Hex.Parse("0100 0300 00 00 0000 00A00000 45230100"), All, out var remote);
        Assert.Equal(CanFrame.CAN_EFF_FLAG | CanFrame.CAN_RTR_FLAG | 0x12345u, remote.CanId);
        Assert.Equal(3, remote.Len);
        Assert.False(remote.IsFd);
        Assert.Equal(16, remote.WireBytes.Length);

        TxRequestDecoder.Decode(Hex.Parse("0100 0100 00 00 0000 00C00000 45230100 7F"), All, out var fd);
        Assert.Equal(CanFrame.CAN_EFF_FLAG | 0x12345u, fd.CanId);
        Assert.True(fd.IsFd);
        Assert.Equal(72, fd.WireBytes.Length);
    }
}
