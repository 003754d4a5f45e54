using System.Text.RegularExpressions;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.SocketCan.Tests;

/// <summary>Interoperability with can-utils, the tools people use to check a CAN setup by hand.</summary>
[Trait("Category", "RealCan")]
public class CanUtilsTests
{
    [Fact]
    public void A_frame_from_cansend_is_received()
    {
        using var receiver = Vcan.Open();
        using var buffer = new CanReceiveBuffer(4);

        Vcan.Run("cansend", "vcan0", "123#DEADBEEF");
        var (frame, flags) = Vcan.ReceiveOne(receiver, buffer);

        Assert.Equal(Vcan.Classic(0x123, 0xDE, 0xAD, 0xBE, 0xEF), frame);
        Assert.True((flags & Libc.MSG_DONTROUTE) != 0);
        Assert.False(buffer.IsConfirmation(0));
    }

    [Fact]
    public void An_fd_frame_from_cansend_is_received_as_fd()
    {
        using var receiver = Vcan.Open();
        using var buffer = new CanReceiveBuffer(4);

        // "##1": CAN FD with the bit rate switch flag.
        Vcan.Run("cansend", "vcan0", "1F334455##1112233445566778899AABBCC");
        var (frame, _) = Vcan.ReceiveOne(receiver, buffer);

        Assert.True(buffer.IsFd(0));
        Assert.Equal(0x1F334455u | Libc.CAN_EFF_FLAG, Vcan.CanIdOf(frame));
        Assert.Equal(12, frame[4]);
        Assert.Equal(Libc.CANFD_BRS, frame[5] & Libc.CANFD_BRS);
        Assert.Equal(Convert.FromHexString("112233445566778899AABBCC"), frame[8..20]);
    }

    [Fact]
    public async Task A_frame_we_send_is_seen_by_candump()
    {
        using var sender = Vcan.Open();
        // Only our ID, so that nothing else on vcan0 ends the dump early.
        using var candump = Vcan.Start("candump", "-n", "1", "vcan0,321:7FF");
        var output = candump.StandardOutput.ReadToEndAsync();

        // candump's socket is bound at some unknown moment after start: repeat the frame
        // until candump has printed one and exited.
        for (int i = 0; i < 200 && !candump.HasExited; i++)
        {
            Vcan.SendOk(sender, Vcan.Classic(0x321, 0x01, 0x02, 0x03));
            candump.WaitForExit(50);
        }
        if (!candump.HasExited) candump.Kill();

        Assert.True(candump.HasExited);
        Assert.Equal(0, candump.ExitCode);
        Assert.Matches(new Regex(@"^\s*vcan0\s+321\s+\[3\]\s+01 02 03\s*$", RegexOptions.Multiline), await output);
    }
}
