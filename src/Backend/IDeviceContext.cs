using Microsoft.Extensions.Logging;
using VhostDeviceCan.Virtqueue;

namespace VhostDeviceCan.Backend;

/// <summary>The runtime as a device sees it.</summary>
public interface IDeviceContext
{
    ILogger Logger { get; }

    /// <summary>Guest memory of the current session (empty while disconnected).</summary>
    GuestMemory Memory { get; }

    /// <summary>Features acked by the driver (0 until SET_FEATURES).</summary>
    ulong AckedFeatures { get; }

    /// <summary>Queue <paramref name="index"/> of the current session; while no front-end is
    /// connected, a ring that never starts.</summary>
    Vring Queue(int index);

    /// <summary>Adds a device-owned fd to the event loop; <paramref name="token"/> must be at least
    /// <see cref="DeviceEventLoop.FirstDeviceToken"/>.</summary>
    void RegisterFd(int fd, ulong token, uint events);
    void ModifyFd(int fd, ulong token, uint events);
    void UnregisterFd(int fd);

    /// <summary>Tells the front-end that config space changed (VHOST_USER_BACKEND_CONFIG_CHANGE_MSG).
    /// False when there is no back-end channel or the front-end refused it.</summary>
    bool NotifyConfigChanged();

    /// <summary>True while a front-end is connected and the driver is live (some queue started).</summary>
    bool IsActive { get; }
}
