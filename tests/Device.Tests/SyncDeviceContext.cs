using Microsoft.Extensions.Logging;
using VhostDeviceCan.Backend;
using VhostDeviceCan.Virtqueue;

namespace VhostDeviceCan.Device.Tests;

/// <summary>
/// The runtime as a device sees it, without the runtime: rings over memfd guest memory that the
/// test sets up and starts itself, and a record of the fds the device asked to watch, so that the
/// test delivers each event by calling the device on its own thread. Nothing runs in the
/// background; after each call the device's state is final and can be asserted on.
/// </summary>
internal sealed class SyncDeviceContext : IDeviceContext, IDisposable
{
    private readonly Vring[] _rings;
    private readonly Dictionary<int, (ulong Token, uint Events)> _watched = [];

    public SyncDeviceContext(GuestMemory memory, int queueCount, ushort maxQueueSize, ILogger logger)
    {
        Memory = memory;
        Logger = logger;
        _rings = new Vring[queueCount];
        for (int i = 0; i < queueCount; i++) _rings[i] = new Vring(i, maxQueueSize, logger);
    }

    public ILogger Logger { get; }
    public GuestMemory Memory { get; }
    public ulong AckedFeatures { get; set; }
    public bool IsActive => _rings.Any(r => r.Started);

    /// <summary>Config-change notifications the device sent.</summary>
    public int ConfigChanges { get; private set; }

    public Vring Queue(int index) => _rings[index];

    /// <summary>Sets up ring <paramref name="index"/> at the driver queue's addresses and marks it
    /// started and enabled, as SET_VRING_ADDR, SET_VRING_KICK and SET_VRING_ENABLE do.</summary>
    public void StartRing(int index, DriverQueue driver)
    {
        Vring ring = _rings[index];
        Assert.True(ring.Queue.TrySetSize(driver.Size));
        Assert.True(ring.Queue.TrySetAddresses(Memory, Uva(driver.DescriptorGpa), Uva(driver.AvailableGpa), Uva(driver.UsedGpa), out string? error), error);
        ring.Queue.SyncUsedIndexFromMemory();
        ring.Started = true;
        ring.Enabled = true;
    }

    /// <summary>The ring stops, as after GET_VRING_BASE (the caller tells the device first).</summary>
    public void StopRing(int index) => _rings[index].Started = false;

    /// <summary>The token and events the device watches <paramref name="fd"/> with, if it does.</summary>
    public bool TryGetWatch(int fd, out ulong token, out uint events)
    {
        bool watched = _watched.TryGetValue(fd, out var watch);
        (token, events) = watch;
        return watched;
    }

    public void RegisterFd(int fd, ulong token, uint events)
    {
        Assert.True(token >= DeviceEventLoop.FirstDeviceToken, $"token {token} is the runtime's");
        Assert.True(_watched.TryAdd(fd, (token, events)), $"fd {fd} is already registered");
    }

    public void ModifyFd(int fd, ulong token, uint events)
    {
        Assert.True(_watched.ContainsKey(fd), $"fd {fd} is not registered");
        _watched[fd] = (token, events);
    }

    public void UnregisterFd(int fd) => Assert.True(_watched.Remove(fd), $"fd {fd} is not registered");

    public bool NotifyConfigChanged()
    {
        ConfigChanges++;
        return true;
    }

    private ulong Uva(ulong gpa)
    {
        Assert.True(Memory.TryTranslateToUserAddress(gpa, out ulong uva));
        return uva;
    }

    public void Dispose()
    {
        foreach (var ring in _rings) ring.Dispose();
    }
}
