using VhostDeviceCan.VhostUser;
using System.Runtime.CompilerServices;

namespace VhostDeviceCan.VirtioCanWire.Tests;

public class VirtioCanHeaderTests
{
    [Fact]
    public void Header_is_16_bytes_little_endian()
    {
        Assert.Equal(16, Unsafe.SizeOf<VirtioCanHeader>());
        byte[] bytes = Hex.Parse("01 01 08 00 0A 0B 0C 0D 00 A0 00 00 78 56 34 12");
        var header = VirtioCanHeader.Read(bytes);
        Assert.Equal(VirtioCan.VIRTIO_CAN_RX, header.MsgType);
        Assert.Equal(8, header.PayloadLength);
        Assert.Equal(0x0A, header.ReservedClassicDlc);
        Assert.Equal(0x0B, header.Padding);
        Assert.Equal(0x0D0C, header.ReservedXlPriority);
        Assert.Equal(0xA000u, header.Flags);
        Assert.True(header.IsExtended && header.IsRemote && !header.IsFd);
        Assert.Equal(0x12345678u, header.CanId);

        var written = new byte[16];
        header.Write(written);
        Assert.Equal(bytes, written);
    }

    [Fact]
    public void Constants_follow_the_spec()
    {
        Assert.Equal(36u, VirtioCan.DeviceId);
        Assert.Equal(0, VirtioCan.VIRTIO_CAN_F_CAN_CLASSIC);
        Assert.Equal(1, VirtioCan.VIRTIO_CAN_F_CAN_FD);
        Assert.Equal(2, VirtioCan.VIRTIO_CAN_F_RTR_FRAMES);
        Assert.Equal(3, VirtioCan.VIRTIO_CAN_F_LATE_TX_ACK);
        Assert.Equal(0x0001, VirtioCan.VIRTIO_CAN_S_CTRL_BUSOFF);
        Assert.Equal(0xE000u, VirtioCan.FlagsMask);
        Assert.Equal(80, VirtioCan.RxBufferLength(VirtioFeatures.Bit(VirtioCan.VIRTIO_CAN_F_CAN_FD)));
        Assert.Equal(24, VirtioCan.RxBufferLength(VirtioFeatures.Bit(VirtioCan.VIRTIO_CAN_F_CAN_CLASSIC)));
    }
}
