using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Interop.Tests;

/// <summary>
/// The SocketCAN structures must match the kernel's byte for byte: the kernel tells classic from
/// FD frames by their size alone. These checks need no AF_CAN, so they run on any host.
/// </summary>
public unsafe class CanLayoutTests
{
    [Fact]
    public void Structures_have_the_kernel_sizes()
    {
        Assert.Equal(Libc.CAN_MTU, sizeof(Libc.CanFrame));
        Assert.Equal(Libc.CANFD_MTU, sizeof(Libc.CanFdFrame));
        Assert.Equal(24, sizeof(Libc.SockAddrCan));
        Assert.Equal(8, sizeof(Libc.CanFilter));
        Assert.Equal(40, sizeof(Libc.IfReq));
    }

    [Fact]
    public void Fields_sit_at_the_kernel_offsets()
    {
        var frame = new Libc.CanFrame();
        byte* start = (byte*)&frame;
        Assert.Equal(0, (byte*)&frame.CanId - start);
        Assert.Equal(4, &frame.Length - start);
        Assert.Equal(7, &frame.Len8Dlc - start);
        Assert.Equal(8, frame.Data - start);

        var fd = new Libc.CanFdFrame();
        start = (byte*)&fd;
        Assert.Equal(4, &fd.Length - start);
        Assert.Equal(5, &fd.Flags - start);
        Assert.Equal(8, fd.Data - start);

        var address = new Libc.SockAddrCan();
        start = (byte*)&address;
        Assert.Equal(4, (byte*)&address.IfIndex - start);

        var request = new Libc.IfReq();
        start = (byte*)&request;
        Assert.Equal(Libc.IFNAMSIZ, (byte*)&request.Value - start);
    }

    [Fact]
    public void Flag_and_mask_values_are_the_kernel_ones()
    {
        Assert.Equal(101, Libc.SOL_CAN_RAW);
        Assert.Equal(0u, Libc.CAN_EFF_FLAG & Libc.CAN_EFF_MASK);
        Assert.Equal(0u, Libc.CAN_RTR_FLAG & Libc.CAN_EFF_MASK);
        Assert.Equal(0u, Libc.CAN_ERR_FLAG & Libc.CAN_EFF_MASK);
        Assert.Equal(0xE0000000u, Libc.CAN_EFF_FLAG | Libc.CAN_RTR_FLAG | Libc.CAN_ERR_FLAG);
        Assert.Equal(0x40u, Libc.CAN_ERR_BUSOFF);
        Assert.Equal(7, Libc.CANFD_BRS | Libc.CANFD_ESI | Libc.CANFD_FDF);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a-name-of-16-chr")]
    [InlineData("bad\0name")]
    public void Invalid_interface_names_are_refused_before_any_syscall(string name)
    {
        Assert.Throws<ArgumentException>(() => CanSocket.Open(name));
    }

    [Fact]
    public void A_failed_open_names_the_interface()
    {
        // Without AF_CAN socket() fails (EAFNOSUPPORT); with it the lookup does (ENODEV).
        // Either way the caller must learn which interface it was about.
        var error = Assert.Throws<SyscallException>(() => CanSocket.Open("nosuchcan0"));
        Assert.Contains("nosuchcan0", error.Message);
        Assert.Contains(error.ErrorNumber, new[] { Errno.EAFNOSUPPORT, Errno.ENODEV });
    }

    [Fact]
    public void A_receive_buffer_holds_no_frames_until_it_receives()
    {
        using var buffer = new CanReceiveBuffer(4);
        Assert.Equal(4, buffer.Capacity);
        Assert.Equal(0, buffer.Count);
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Length(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CanReceiveBuffer(0));
    }
}
