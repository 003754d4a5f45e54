using VhostDeviceCan.EchoDeviceHost;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Backend.Tests;

/// <summary>The runtime serving an <see cref="EchoDevice"/> on its own thread, as a daemon would.</summary>
public sealed class InProcessEcho : IEchoBackend
{
    private readonly UnixSocket _listener;
    private readonly Thread _thread;

    public InProcessEcho(int queues = 2, ushort maxQueueSize = 1024, TimeSpan busyPoll = default, bool allowUnsealedMemory = false)
    {
        SocketPath = TestPaths.NewSocketPath();
        _listener = UnixSocket.Listen(SocketPath);
        Device = new EchoDevice(queues, maxQueueSize);
        Log = new RecordingLogger();
        Loop = new DeviceEventLoop(Device, _listener, Log, "echo") { BusyPoll = busyPoll, AllowUnsealedMemory = allowUnsealedMemory };
        _thread = new Thread(Loop.Run) { IsBackground = true, Name = "echo event loop" };
        _thread.Start();
    }

    public string SocketPath { get; }
    public EchoDevice Device { get; }
    public DeviceEventLoop Loop { get; }
    public RecordingLogger Log { get; }

    public int CountFds() => FileDescriptor.CountOpen();

    public void Dispose()
    {
        Loop.Stop();
        Assert.True(_thread.Join(TimeSpan.FromSeconds(10)), "the event loop did not stop");
        Loop.Dispose();
        _listener.Dispose();
        File.Delete(SocketPath);
    }
}
