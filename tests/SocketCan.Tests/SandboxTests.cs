using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using VhostDeviceCan.Interop;
using VhostDeviceCan.VirtioCanWire;

namespace VhostDeviceCan.SocketCan.Tests;

/// <summary>
/// The service unit's sandbox against the daemon on host CAN interfaces (AF_CAN raw sockets, the
/// interface's state): everything it does under strace -f must be allowed by the unit's
/// SystemCallFilter=, RestrictAddressFamilies= and MemoryDenyWriteExecute=.
/// </summary>
[Trait("Category", "RealCan")]
public sealed class SandboxTests
{
    [Fact]
    public void Everything_the_daemon_does_on_host_interfaces_is_inside_the_service_sandbox()
    {
        Vcan.RequireAfCan();
        using var sandbox = ServiceSandbox.Start(2, ["-d", "vcan0 vcan1"]);
        var patient = new VirtioCanGuestOptions { ConnectTimeout = TimeSpan.FromSeconds(30) };
        using (var host0 = Vcan.Open("vcan0"))
        using (var host1 = Vcan.Open("vcan1"))
        using (var a = VirtioCanGuest.Connect(sandbox.Socket(0), patient))
        using (var b = VirtioCanGuest.Connect(sandbox.Socket(1), patient))
        {
            Assert.True(a.Start() && b.Start(), "START refused");
            var buffer = new CanReceiveBuffer(8);
            Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(CanFrame.Classic(0x321, false, [1, 2])));
            Assert.Equal(0x321u, Vcan.CanIdOf(Vcan.ReceiveOne(host0, buffer).Frame));
            Vcan.SendOk(host1, Vcan.Classic(0x654, 3));
            var heard = new CanFrame[1];
            Assert.Equal(1, b.Receive(heard, TimeSpan.FromSeconds(30)));
            Assert.Equal(0x654u, heard[0].Id);
            // The interface going away and coming back: the state path the daemon watches.
            Vcan.SetLink("vcan0", "down");
            Vcan.SetLink("vcan0", "up");
            sandbox.Signal("USR2");
            sandbox.Tracer.WaitForLog("SIGUSR2: ", TimeSpan.FromSeconds(30));
        }
        var (status, syscalls, violations) = sandbox.Finish();
        Assert.Equal(0, status);
        Assert.Contains("recvmmsg", syscalls);
        Assert.Equal([], violations);
    }
}
