using VhostDeviceCan.EchoDeviceHost;
using VhostDeviceCan.Frontend;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Backend.Tests;

/// <summary>
/// What a service watchdog and status reporting rely on: a loop answers a liveness request only
/// from its own thread between events, so a loop stuck in a handler stays silent; and it reports
/// each front-end's arrival and departure from that thread.
/// </summary>
public sealed class LivenessTests
{
    [Fact]
    public void A_loop_stuck_in_a_handler_answers_no_liveness_request_until_it_turns_again()
    {
        using var release = new ManualResetEventSlim();
        var device = new BlockingFdDevice(new EchoDevice(), release);
        string path = TestPaths.NewSocketPath();
        using var server = DeviceServer.Listen(path, device, new RecordingLogger());

        long before = server.Loop.LivenessAcks;
        server.Loop.RequestLivenessAck();
        Assert.True(SpinWait.SpinUntil(() => server.Loop.LivenessAcks > before, Sessions.Wait), "an idle loop did not answer");

        device.Fd.Signal();
        Assert.True(device.Entered.Wait(Sessions.Wait), "the device never saw its fd");
        before = server.Loop.LivenessAcks;
        server.Loop.RequestLivenessAck();
        Thread.Sleep(300);
        Assert.Equal(before, server.Loop.LivenessAcks);

        release.Set();
        Assert.True(SpinWait.SpinUntil(() => server.Loop.LivenessAcks > before, Sessions.Wait), "the loop did not answer once free");
    }

    [Fact]
    public void Connection_changes_are_reported_from_the_loop_thread_after_they_happened()
    {
        var reports = new List<(bool Connected, string? Thread)>();
        string path = TestPaths.NewSocketPath();
        using var server = DeviceServer.Listen(path, new EchoDevice(), new RecordingLogger(), new DeviceServerOptions
        {
            ThreadName = "loop",
            ConnectionChanged = loop => { lock (reports) reports.Add((loop.IsConnected, Thread.CurrentThread.Name)); },
        });
        using (var frontend = VirtioFrontend.Connect(path))
        {
            frontend.Start();
            Assert.True(SpinWait.SpinUntil(() => { lock (reports) return reports.Count == 1; }, Sessions.Wait));
        }
        Assert.True(SpinWait.SpinUntil(() => { lock (reports) return reports.Count == 2; }, Sessions.Wait), "the departure was not reported");
        lock (reports) Assert.Equal([(true, "loop"), (false, "loop")], reports);
    }

    /// <summary>An echo device with one eventfd of its own whose handler blocks until released.</summary>
    internal sealed class BlockingFdDevice(EchoDevice echo, ManualResetEventSlim release) : EchoDeviceWithFd(echo)
    {
        public ManualResetEventSlim Entered { get; } = new();

        public override void HandleEvent(ulong token, uint events)
        {
            Fd.Consume();
            Entered.Set();
            release.Wait();
        }

        public override void Dispose()
        {
            base.Dispose();
            Entered.Dispose();
        }
    }
}
