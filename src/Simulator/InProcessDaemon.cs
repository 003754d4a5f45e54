using Microsoft.Extensions.Logging.Abstractions;
using VhostDeviceCan.Backend;
using VhostDeviceCan.Can;
using VhostDeviceCan.Device;

namespace VhostDeviceCan.Simulator;

/// <summary>The daemon's devices on a private virtual bus inside this process, so a benchmark can
/// count managed allocations per frame across guest and device together.</summary>
internal sealed class InProcessDaemon : IDisposable
{
    private readonly List<DeviceServer> _servers = [];
    private readonly DeviceLoopGroup _loop = new("vbus-bench", NullLogger.Instance);

    /// <summary>As the daemon serves a virtual bus: every device on the bus's one thread.</summary>
    public InProcessDaemon(params string[] socketPaths)
    {
        var bus = new VirtualCanBus($"bench-{Environment.ProcessId}");
        foreach (string path in socketPaths)
        {
            VirtualCanBusMember member = bus.Join();
            _servers.Add(DeviceServer.Listen(path, new CanDevice(member), NullLogger.Instance,
                new DeviceServerOptions { Group = _loop }, deviceResources: member));
        }
    }

    public void Dispose()
    {
        foreach (var server in _servers) server.Dispose();
        _loop.Dispose();
    }
}
