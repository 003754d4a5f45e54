using Microsoft.Extensions.Logging;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Backend;

/// <summary>How a <see cref="DeviceServer"/> names and runs its loop.</summary>
public sealed record DeviceServerOptions
{
    /// <summary>Name in log lines; default the socket file's name, or "fdN" for an adopted socket.</summary>
    public string? Name { get; init; }

    /// <summary>The loop thread's name (Linux shows its first 15 bytes); default <see cref="Name"/>.
    /// A process serving several sockets gives each a distinct one.</summary>
    public string? ThreadName { get; init; }

    /// <summary>See <see cref="DeviceEventLoop.BusyPoll"/>. Ignored with a <see cref="Group"/>, which has its own.</summary>
    public TimeSpan BusyPoll { get; init; }

    /// <summary>Serve the loop on this group's thread, with other devices, instead of a thread of
    /// its own (<see cref="ThreadName"/> is then the group's). The group outlives the server.</summary>
    public DeviceLoopGroup? Group { get; init; }

    /// <summary>See <see cref="DeviceEventLoop.AllowUnsealedMemory"/>.</summary>
    public bool AllowUnsealedMemory { get; init; }

    /// <summary>See <see cref="DeviceEventLoop.ConnectionChanged"/>.</summary>
    public Action<DeviceEventLoop>? ConnectionChanged { get; init; }

    /// <summary>Mode and group of the socket file <see cref="DeviceServer.Listen"/> creates; null
    /// leaves them to the umask and the process's group. Ignored by <see cref="DeviceServer.Adopt"/>:
    /// an inherited socket's file belongs to whoever created it.</summary>
    public SocketFileAccess? SocketAccess { get; init; }
}

/// <summary>
/// One device served on one listening Unix socket by a <see cref="DeviceEventLoop"/> on a thread of
/// its own, as rust-vmm's VhostUserDaemon serves a back-end. It owns everything it is given: the
/// socket, the device and what the device runs on (such as its CAN transport). Disposing stops the
/// loop, settles and resets the device, disposes all of it and removes the socket file it created;
/// an adopted socket's file belongs to whoever created it (systemd removes its own).
/// </summary>
public sealed class DeviceServer : IDisposable
{
    private readonly UnixSocket _listener;
    private readonly IVhostUserDevice _device;
    private readonly IDisposable? _deviceResources;
    private readonly Thread? _thread;
    private readonly DeviceLoopGroup? _group;
    private bool _disposed;

    private DeviceServer(UnixSocket listener, string? path, IVhostUserDevice device, IDisposable? deviceResources, ILogger logger, string name, DeviceServerOptions options)
    {
        _listener = listener;
        _device = device;
        _deviceResources = deviceResources;
        SocketPath = path;
        Loop = new DeviceEventLoop(device, listener, logger, name) {
            BusyPoll = options.BusyPoll,
            AllowUnsealedMemory = options.AllowUnsealedMemory,
            ConnectionChanged = options.ConnectionChanged,
            SharedThread = options.Group is not null,
        };
        _group = options.Group;
        if (_group is not null)
        {
            _group.Add(Loop);
            return;
        }
        _thread = new Thread(Loop.Run) { Name = options.ThreadName ?? name, IsBackground = true };
        _thread.Start();
    }

    public DeviceEventLoop Loop { get; }
    public string Name => Loop.Name;

    /// <summary>The socket file this server created, or null for an adopted socket.</summary>
    public string? SocketPath { get; }

    /// <summary>The loop thread's name (its group's, when it has one).</summary>
    public string ThreadName => _group?.ThreadName ?? _thread!.Name!;

    public bool IsConnected => Loop.IsConnected;

    /// <summary>Listens on <paramref name="path"/>: a socket file left by a killed back-end is
    /// replaced, one that another running back-end serves is an <see cref="IOException"/>. From this
    /// call on the server owns <paramref name="device"/> and <paramref name="deviceResources"/>
    /// (disposed in that order), even when it throws.</summary>
    public static DeviceServer Listen(string path, IVhostUserDevice device, ILogger logger,
        DeviceServerOptions? options = null, IDisposable? deviceResources = null)
    {
        options ??= new DeviceServerOptions();
        SocketFileAccess? access = options.SocketAccess;
        return Start(() =>
            {
                RemoveStaleSocket(path);
                return access is { } chosen ? UnixSocket.Listen(path, chosen) : UnixSocket.Listen(path);
            }, path,
            options.Name ?? Path.GetFileName(path), device, deviceResources, logger, options);
    }

    /// <summary>Serves an inherited, already listening socket (socket activation); ownership as for
    /// <see cref="Listen"/>.</summary>
    public static DeviceServer Adopt(int listeningFd, IVhostUserDevice device, ILogger logger,
        DeviceServerOptions? options = null, IDisposable? deviceResources = null)
    {
        options ??= new DeviceServerOptions();
        return Start(() => UnixSocket.FromListeningFd(listeningFd), null,
            options.Name ?? $"fd{listeningFd}", device, deviceResources, logger, options);
    }

    private static DeviceServer Start(Func<UnixSocket> open, string? path, string name, IVhostUserDevice device,
        IDisposable? deviceResources, ILogger logger, DeviceServerOptions options)
    {
        UnixSocket? listener = null;
        try
        {
            listener = open();
            return new DeviceServer(listener, path, device, deviceResources, logger, name, options);
        }
        catch
        {
            listener?.Dispose();
            if (path is not null && listener is not null) File.Delete(path);
            (device as IDisposable)?.Dispose();
            deviceResources?.Dispose();
            throw;
        }
    }

    /// <summary>Asks the loop to stop and waits up to <paramref name="timeout"/> for its thread;
    /// false if it is still running.</summary>
    public bool Stop(TimeSpan timeout)
    {
        Loop.Stop();
        return _group?.WaitForExit(Loop, timeout) ?? _thread!.Join(timeout);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Stop(Timeout.InfiniteTimeSpan);
        Loop.Dispose();
        (_device as IDisposable)?.Dispose();
        _deviceResources?.Dispose();
        _listener.Dispose();
        if (SocketPath is not null) File.Delete(SocketPath);
    }

    /// <summary>A socket file left by a killed back-end makes bind fail with EADDRINUSE. Connecting
    /// tells the cases apart: refused means nobody listens (stale, removed); accepted means
    /// another back-end serves it (an error); anything else is left for bind to report.
    /// Anything but a socket file at the path (a user's file, a directory, a symbolic link) is
    /// never touched: an <see cref="IOException"/> names it.</summary>
    public static void RemoveStaleSocket(string path, string option = "--socket-path")
    {
        string? existing = UnixSocket.DescribePath(path);
        if (existing is null) return;
        if (existing != "socket")
            throw new IOException($"{path} is a {existing}, not a socket; it is left as it is (remove it or choose another {option})");
        try
        {
            using var probe = UnixSocket.Connect(path);
        }
        catch (SyscallException e) when (e.ErrorNumber == Errno.ECONNREFUSED)
        {
            File.Delete(path);
            return;
        }
        catch (SyscallException)
        {
            return;
        }
        throw new IOException($"{path} is in use by another running back-end");
    }
}
