using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using VhostDeviceCan.VirtioCanWire;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>
/// The service unit's sandbox against what the daemon really does on the virtual bus: start-up
/// with a watchdog, two guests, traffic both ways, SIGUSR2 and SIGTERM under strace -f. A
/// NativeAOT runtime that started needing another system call would fail here instead of dying
/// under systemd. (tests/SocketCan.Tests does the same on a host CAN interface inside UML.)
/// </summary>
public sealed class SandboxTests
{
    [Fact]
    public void Everything_the_daemon_does_on_the_virtual_bus_is_inside_the_service_sandbox()
    {
        using var sandbox = ServiceSandbox.Start(2, [], new Dictionary<string, string?> { ["WATCHDOG_USEC"] = "400000" });
        var patient = new VirtioCanGuestOptions { ConnectTimeout = TimeSpan.FromSeconds(30) };
        using (var a = VirtioCanGuest.Connect(sandbox.Socket(0), patient))
        using (var b = VirtioCanGuest.Connect(sandbox.Socket(1), patient))
        {
            Assert.True(a.Start() && b.Start(), "START refused");
            var heard = new CanFrame[1];
            Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(CanFrame.Classic(0x123, false, [1])));
            Assert.Equal(1, b.Receive(heard, TimeSpan.FromSeconds(30)));
            Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, b.SendAndWait(CanFrame.Fd(0x1234567, true, new byte[64], 0)));
            Assert.Equal(1, a.Receive(heard, TimeSpan.FromSeconds(30)));
            sandbox.Signal("USR2");
            sandbox.Tracer.WaitForLog("SIGUSR2: ", TimeSpan.FromSeconds(30));
        }
        var (status, syscalls, violations) = sandbox.Finish();
        Assert.Equal(0, status);
        Assert.Contains("epoll_wait", syscalls);
        Assert.Equal([], violations);
    }
}
