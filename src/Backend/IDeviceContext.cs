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

    /// <summary>True on the thread that serves the device now (its loop's or its group's).</summary>
    bool IsLoopThread => false;

    /// <summary>
    /// Loop thread only: the device's <see cref="IVhostUserDevice.HandleEvent"/> runs with
    /// <paramref name="token"/> (and EPOLLIN) once the current event is handled, on this thread,
    /// before the loop sleeps; as if an fd of its own had become readable, without one. A token
    /// already waiting is not added twice.
    /// </summary>
    void RunAfterThisEvent(ulong token) => throw new NotSupportedException("this context runs no deferred events");
}
