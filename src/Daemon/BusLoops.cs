using Microsoft.Extensions.Logging;
using VhostDeviceCan.Backend;

namespace VhostDeviceCan.Daemon;

/// <summary>
/// One event-loop thread per virtual bus, named <c>vbus-NAME</c>, serving every device on that
/// bus: a frame from one guest reaches the other guests' receive queues in the turn that took it
/// from the sender's transmit queue, one thread wake-up instead of two (the sender's loop, then
/// each receiver's). Host interfaces get no group: each of their devices keeps a thread of its
/// own, since their frames come from the kernel, not from a neighbour's turn.
/// </summary>
internal sealed class BusLoops(TimeSpan busyPoll, ILogger log) : IDisposable
{
    private readonly Dictionary<string, DeviceLoopGroup> _groups = new(StringComparer.Ordinal);

    /// <summary>The group that serves <paramref name="spec"/>'s device, or null for a thread of its own.</summary>
    public DeviceLoopGroup? For(DeviceSpec spec)
    {
        if (spec.Kind != DeviceKind.VirtualBus) return null;
        if (!_groups.TryGetValue(spec.Name, out DeviceLoopGroup? group))
        {
            group = new DeviceLoopGroup($"vbus-{spec.Name}", log) { BusyPoll = busyPoll };
            _groups.Add(spec.Name, group);
        }
        return group;
    }

    /// <summary>After every device's server: stops the threads.</summary>
    public void Dispose()
    {
        foreach (DeviceLoopGroup group in _groups.Values) group.Dispose();
        _groups.Clear();
    }
}
