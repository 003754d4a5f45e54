using VhostDeviceCan.EchoDeviceHost;

namespace VhostDeviceCan.Backend.Tests;

/// <summary>DeviceEventLoop.Invoke: other threads (the control socket) change a device only on its
/// loop thread, and a loop that does not turn fails them in bounded time instead of hanging them.</summary>
public sealed class LoopRequestTests
{
    [Fact]
    public void A_request_runs_on_the_loop_thread_and_returns_its_result()
    {
        string path = TestPaths.NewSocketPath();
        using var server = DeviceServer.Listen(path, new EchoDevice(), new RecordingLogger(), new DeviceServerOptions { ThreadName = "loop" });
        string? thread = server.Loop.Invoke(() => Thread.CurrentThread.Name, TimeSpan.FromSeconds(5));
        Assert.Equal("loop", thread);
        Assert.Equal(42, server.Loop.Invoke(() => 42, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void What_a_request_throws_reaches_the_caller_and_the_loop_goes_on()
    {
        string path = TestPaths.NewSocketPath();
        using var server = DeviceServer.Listen(path, new EchoDevice(), new RecordingLogger());
        var failure = Assert.Throws<InvalidOperationException>(() =>
            server.Loop.Invoke<int>(() => throw new ArgumentException("bad value"), TimeSpan.FromSeconds(5)));
        Assert.IsType<ArgumentException>(failure.InnerException);
        Assert.Equal(7, server.Loop.Invoke(() => 7, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void A_stuck_loop_times_the_request_out_and_never_runs_it_later()
    {
        using var release = new ManualResetEventSlim();
        var device = new LivenessTests.BlockingFdDevice(new EchoDevice(), release);
        string path = TestPaths.NewSocketPath();
        using var server = DeviceServer.Listen(path, device, new RecordingLogger());
        device.Fd.Signal();
        Assert.True(device.Entered.Wait(Sessions.Wait), "the device never saw its fd");

        int runs = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.Throws<TimeoutException>(() => server.Loop.Invoke(() => ++runs, TimeSpan.FromMilliseconds(200)));
        Assert.InRange(clock.ElapsedMilliseconds, 150, 5000);

        release.Set();
        // The loop turns again and takes later requests; the withdrawn one stays withdrawn.
        Assert.Equal(1, server.Loop.Invoke(() => ++runs, TimeSpan.FromSeconds(5)));
    }
}
