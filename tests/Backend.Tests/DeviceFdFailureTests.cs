using VhostDeviceCan.EchoDeviceHost;
using VhostDeviceCan.Frontend;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Backend.Tests;

/// <summary>
/// A device's own fd is level-triggered: while it stays readable epoll reports it on every wait. A
/// handler that throws before consuming it must not turn the loop into a busy spin that writes the
/// same error forever.
/// </summary>
public sealed class DeviceFdFailureTests
{
    [Fact]
    public void A_throwing_fd_handler_logs_one_error_drops_the_front_end_and_is_watched_again_by_the_next()
    {
        var device = new FailingFdDevice(new EchoDevice());
        var log = new RecordingLogger();
        string path = TestPaths.NewSocketPath();
        using var server = DeviceServer.Listen(path, device, log);
        using (var frontend = VirtioFrontend.Connect(path))
        {
            frontend.Start();
            long waitsBefore = server.Loop.SleepingWaits;
            device.Fd.Signal();
            Assert.True(SpinWait.SpinUntil(() => device.Failures > 0, Sessions.Wait), "the device never saw its fd");
            // Long enough for a spinning loop to fail thousands of times.
            Thread.Sleep(300);

            Assert.Equal(1, device.Failures);
            Assert.Single(log.Lines, l => l.StartsWith("Error:", StringComparison.Ordinal));
            long waits = server.Loop.SleepingWaits - waitsBefore;
            Assert.True(waits < 20, $"the loop woke {waits} times in 300 ms with one event");
            // The device is in an unknown state, so its front-end was dropped (and the device reset).
            Assert.ThrowsAny<Exception>(() => frontend.Client.GetFeatures());
        }

        device.Fail = false;
        Sessions.ProveWorking(path, diagnostics: () => log.ToString());
        // The fd, still readable, reached the device again once the next front-end connected.
        Assert.True(SpinWait.SpinUntil(() => device.Handled > 0, Sessions.Wait), "the silenced fd was never watched again");
        Assert.Equal(1, device.Failures);
    }

    /// <summary>An echo device with one eventfd of its own whose handler throws, without reading
    /// the eventfd, while <see cref="Fail"/> is set.</summary>
    private sealed class FailingFdDevice(EchoDevice echo) : EchoDeviceWithFd(echo)
    {
        public volatile bool Fail = true;
        private int _failures;
        private int _handled;

        public int Failures => Volatile.Read(ref _failures);
        public int Handled => Volatile.Read(ref _handled);

        public override void HandleEvent(ulong token, uint events)
        {
            if (Fail)
            {
                Interlocked.Increment(ref _failures);
                throw new InvalidOperationException("the device cannot handle its fd");
            }
            Fd.Consume();
            Interlocked.Increment(ref _handled);
        }
    }
}
