using Microsoft.Extensions.Logging;
using VhostDeviceCan.EchoDeviceHost;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Backend.Tests;

/// <summary>The runtime serving an <see cref="EchoDevice"/> on its own thread, as a daemon would.</summary>
public sealed class InProcessEcho : IEchoBackend
{
    private readonly DeviceServer _server;

    public InProcessEcho(int queues = 2, ushort maxQueueSize = 1024, TimeSpan busyPoll = default, bool allowUnsealedMemory = false,
        LogLevel logLevel = LogLevel.Information)
    {
        SocketPath = TestPaths.NewSocketPath();
        Device = new EchoDevice(queues, maxQueueSize);
        Log = new RecordingLogger(logLevel);
        _server = DeviceServer.Listen(SocketPath, Device, Log, new DeviceServerOptions { Name = "echo", BusyPoll = busyPoll, AllowUnsealedMemory = allowUnsealedMemory });
    }

    public string SocketPath { get; }
    public EchoDevice Device { get; }
    public DeviceEventLoop Loop => _server.Loop;
    public RecordingLogger Log { get; }

    public int CountFds() => FileDescriptor.CountOpen();

    public void Dispose()
    {
        Assert.True(_server.Stop(TimeSpan.FromSeconds(10)), "the event loop did not stop");
        _server.Dispose();
    }
}
