using Microsoft.Extensions.Logging.Abstractions;
using VhostDeviceCan.Backend;
using VhostDeviceCan.Can;
using VhostDeviceCan.Device;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Simulator;

/// <summary>The daemon's devices on a private virtual bus inside this process, so a benchmark can
/// count managed allocations per frame across guest and device together.</summary>
internal sealed class InProcessDaemon : IDisposable
{
    private readonly List<(DeviceEventLoop Loop, Thread Thread, CanDevice Device, UnixSocket Listener, string Path)> _instances = [];

    public InProcessDaemon(params string[] socketPaths)
    {
        var bus = new VirtualCanBus($"bench-{Environment.ProcessId}");
        foreach (string path in socketPaths)
        {
            File.Delete(path);
            var listener = UnixSocket.Listen(path);
            var device = new CanDevice(bus.Join());
            var loop = new DeviceEventLoop(device, listener, NullLogger.Instance, Path.GetFileName(path));
            var thread = new Thread(loop.Run) { IsBackground = true, Name = Path.GetFileName(path) };
            thread.Start();
            _instances.Add((loop, thread, device, listener, path));
        }
    }

    public void Dispose()
    {
        foreach (var instance in _instances)
        {
            instance.Loop.Stop();
            instance.Thread.Join();
            instance.Loop.Dispose();
            instance.Device.Transport.Dispose();
            instance.Device.Dispose();
            instance.Listener.Dispose();
            File.Delete(instance.Path);
        }
    }
}
