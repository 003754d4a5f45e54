using Microsoft.Extensions.Logging;

namespace VhostDeviceCan.Backend;

public sealed partial class DeviceEventLoop
{
    /// <summary>A device-registered fd. Silenced: out of the epoll set because its handler threw.</summary>
    private record struct DeviceFd(int Fd, ulong Token, uint Events, bool Silenced);

    /// <summary>A device has a handful of fds; a list searched in place allocates nothing when the
    /// device starts and stops watching one on the TX path.</summary>
    private readonly List<DeviceFd> _deviceFds = new(8);

    public void RegisterFd(int fd, ulong token, uint events)
    {
        if (token < FirstDeviceToken) throw new ArgumentOutOfRangeException(nameof(token), "device tokens start at FirstDeviceToken");
        _fds.Add(fd, token, events);
        _deviceFds.Add(new DeviceFd(fd, token, events, Silenced: false));
    }

    public void ModifyFd(int fd, ulong token, uint events)
    {
        int index = IndexOfFd(fd);
        if (index < 0 || !_deviceFds[index].Silenced) _fds.Modify(fd, token, events);
        if (index >= 0) _deviceFds[index] = _deviceFds[index] with { Token = token, Events = events };
    }

    public void UnregisterFd(int fd)
    {
        _fds.Remove(fd);
        int index = IndexOfFd(fd);
        if (index >= 0) _deviceFds.RemoveAt(index);
    }

    /// <summary>
    /// Runs the device's handler for one of its fds. Epoll reports a level-triggered fd again at
    /// once while it stays ready, so a handler that throws before consuming it would spin this
    /// thread and log the same error forever. Instead the fd leaves the epoll set, the error is
    /// logged once, and the front-end is dropped, which resets the device to a known state; the
    /// fd is watched again when the next front-end connects.
    /// </summary>
    private void RunDeviceEvent(ulong token, uint events, bool deferred = false)
    {
        int index = IndexOfToken(token);
        // An fd silenced or unregistered earlier in this batch may still be in it. A deferred
        // event has no fd (see RunAfterThisEvent).
        if (!deferred && (index < 0 || _deviceFds[index].Silenced)) return;
        try
        {
            _device.HandleEvent(token, events);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            index = IndexOfToken(token);
            if (index >= 0)
            {
                _fds.Remove(_deviceFds[index].Fd);
                _deviceFds[index] = _deviceFds[index] with { Silenced = true };
            }
            Logger.LogError(e, "{Name}: device failed handling event {Token:x}; its fd is not watched again until the next front-end connects", Name, token);
            if (_session is not null) DropSession("the device failed");
        }
    }

    /// <summary>Gives every silenced fd another chance: the device was reset since it failed.</summary>
    private void WatchSilencedFds()
    {
        for (int i = 0; i < _deviceFds.Count; i++)
        {
            DeviceFd entry = _deviceFds[i];
            if (!entry.Silenced) continue;
            _fds.Add(entry.Fd, entry.Token, entry.Events);
            _deviceFds[i] = entry with { Silenced = false };
        }
    }

    private int IndexOfFd(int fd)
    {
        for (int i = 0; i < _deviceFds.Count; i++)
            if (_deviceFds[i].Fd == fd) return i;
        return -1;
    }

    private int IndexOfToken(ulong token)
    {
        for (int i = 0; i < _deviceFds.Count; i++)
            if (_deviceFds[i].Token == token) return i;
        return -1;
    }
}
