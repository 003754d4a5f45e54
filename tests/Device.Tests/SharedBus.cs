using Microsoft.Extensions.Logging;
using VhostDeviceCan.Backend;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;

namespace VhostDeviceCan.Device.Tests;

/// <summary>
/// Devices on one private virtual bus, each on a listening socket of its own, served either by
/// one <see cref="DeviceLoopGroup"/> (as the daemon serves a virtual bus) or by a thread each.
/// Guests connect over the sockets with memfd RAM and eventfds, as a VMM does.
/// </summary>
internal sealed class SharedBus : IDisposable
{
    private readonly List<DeviceServer> _servers = [];
    private readonly List<VirtioCanGuest> _guests = [];
    private readonly List<VirtualCanBusMember> _members = [];

    public SharedBus(int devices, bool shared, TimeSpan busyPoll = default)
    {
        Bus = new VirtualCanBus($"shared-{Guid.NewGuid():N}");
        Log = new RecordingLogger(LogLevel.Debug);
        if (shared) Group = new DeviceLoopGroup("vbus-test", Log) { BusyPoll = busyPoll };
        for (int i = 0; i < devices; i++)
        {
            string path = Path.Combine(Path.GetTempPath(), $"vdc-bus-{Guid.NewGuid():N}.sock");
            VirtualCanBusMember member = Bus.Join();
            _members.Add(member);
            _servers.Add(DeviceServer.Listen(path, new CanDevice(member), Log,
                new DeviceServerOptions { Name = $"dev{i}", Group = Group }, member));
        }
    }

    public VirtualCanBus Bus { get; }
    public DeviceLoopGroup? Group { get; }
    public RecordingLogger Log { get; }

    public DeviceServer Server(int index) => _servers[index];

    public VirtualCanBusMember Member(int index) => _members[index];

    public string SocketPath(int index) => _servers[index].SocketPath!;

    /// <summary>Times the daemon's threads slept until an event: the group's, or every loop's own.</summary>
    public long SleepingWaits => Group?.SleepingWaits ?? _servers.Sum(s => s.Loop.SleepingWaits);

    public VirtioCanGuest ConnectStarted(int index)
    {
        var guest = VirtioCanGuest.Connect(SocketPath(index));
        _guests.Add(guest);
        Assert.True(guest.Start(DeviceHarness.Timeout), "START was refused");
        return guest;
    }

    public void Dispose()
    {
        foreach (var guest in _guests) guest.Dispose();
        foreach (var server in _servers)
        {
            Assert.True(server.Stop(TimeSpan.FromSeconds(10)), "the event loop did not stop");
            server.Dispose();
        }
        Group?.Dispose();
    }
}
