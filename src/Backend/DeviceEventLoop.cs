using System.Diagnostics;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Interop;
using VhostDeviceCan.VhostUser;
using VhostDeviceCan.Virtqueue;

namespace VhostDeviceCan.Backend;

/// <summary>
/// Serves one device on one listening socket: one thread blocked in epoll_wait on the listener
/// (while no front-end is connected), the connection, every kick eventfd, the device's own fds and
/// an exit eventfd. One front-end at a time; when it leaves the device is reset and the next one
/// is accepted. No timers and no thread per queue; it polls only when asked to
/// (<see cref="BusyPoll"/>), and only for a moment after each event.
/// </summary>
public sealed partial class DeviceEventLoop : IDeviceContext, IDisposable
{
    /// <summary>Tokens below this belong to the runtime: kick fds use the queue index, then exit,
    /// listener and connection.</summary>
    public const ulong FirstDeviceToken = 1UL << 32;

    /// <summary>A front-end never pauses inside one message; a peer that does is hostile or dead.</summary>
    private static readonly TimeSpan MessageReceiveTimeout = TimeSpan.FromSeconds(2);

    private readonly IVhostUserDevice _device;
    private readonly UnixSocket _listener;
    private readonly Epoll _epoll = new();
    private readonly EventFd _exit = new();
    private readonly Vring[] _vrings;
    private readonly ulong _exitToken;
    private readonly ulong _listenerToken;
    private readonly ulong _connectionToken;
    private readonly byte[] _payload = new byte[MessageHeader.MaxPayload];
    private readonly ReceivedFds _fds = new();
    private volatile bool _stopRequested;
    private long _sleepingWaits;
    private long _pollingWaits;

    private VhostUserConnection? _connection;
    private BackendChannel? _backendChannel;
    private GuestMemory _memory = GuestMemory.Empty;
    private ulong _ackedFeatures;
    private ProtocolFeatures _ackedProtocolFeatures;
    private byte _status;

    public DeviceEventLoop(IVhostUserDevice device, UnixSocket listener, ILogger logger, string name = "device")
    {
        _device = device;
        _listener = listener;
        Logger = logger;
        Name = name;
        _vrings = new Vring[device.QueueCount];
        for (int i = 0; i < _vrings.Length; i++) _vrings[i] = new Vring(i, device.MaxQueueSize, logger);
        _exitToken = (ulong)_vrings.Length;
        _listenerToken = _exitToken + 1;
        _connectionToken = _exitToken + 2;
        _listener.Descriptor.SetNonBlocking(true);
        _epoll.Add(_exit.Fd, _exitToken);
        _epoll.Add(_listener.Fd, _listenerToken);
    }

    public string Name { get; }
    public ILogger Logger { get; }

    /// <summary>
    /// How long the loop keeps asking epoll without sleeping after an event. Waking a sleeping
    /// thread costs the scheduler tens of microseconds on some hosts, paid once per hop of a
    /// frame; a loop still polling sees the next kick or bus frame at once. The price is CPU
    /// while traffic flows; an idle device sleeps as before. Zero (the default) never polls.
    /// </summary>
    public TimeSpan BusyPoll { get; init; }

    /// <summary>Times the loop slept in epoll_wait until an event (for tests and diagnostics).</summary>
    public long SleepingWaits => Volatile.Read(ref _sleepingWaits);

    /// <summary>Times the loop polled epoll without sleeping (<see cref="BusyPoll"/>).</summary>
    public long PollingWaits => Volatile.Read(ref _pollingWaits);
    public GuestMemory Memory => _memory;
    public ulong AckedFeatures => _ackedFeatures;
    public bool IsConnected => _connection is not null;
    public bool IsActive => _connection is not null && Array.Exists(_vrings, v => v.Started);

    /// <summary>Number of front-ends served so far (for logs and tests).</summary>
    public int SessionCount { get; private set; }

    /// <summary>The protocol features this back-end offers (docs/spec/vhost-user.md §4, the CAN set plus the
    /// optional ones it implements).</summary>
    public static ProtocolFeatures OfferedProtocolFeatures =>
        ProtocolFeatures.MQ | ProtocolFeatures.REPLY_ACK | ProtocolFeatures.BACKEND_REQ | ProtocolFeatures.CONFIG
        | ProtocolFeatures.CONFIGURE_MEM_SLOTS | ProtocolFeatures.STATUS | ProtocolFeatures.RESET_DEVICE;

    public ulong OfferedFeatures => _device.Features | VirtioFeatures.Bit(VirtioFeatures.VHOST_USER_F_PROTOCOL_FEATURES);

    public Vring Queue(int index) => _vrings[index];

    public void RegisterFd(int fd, ulong token, uint events)
    {
        if (token < FirstDeviceToken) throw new ArgumentOutOfRangeException(nameof(token), "device tokens start at FirstDeviceToken");
        _epoll.Add(fd, token, events);
    }

    public void ModifyFd(int fd, ulong token, uint events) => _epoll.Modify(fd, token, events);
    public void UnregisterFd(int fd) => _epoll.Remove(fd);

    public bool NotifyConfigChanged()
    {
        // docs/spec/vhost-user.md §9: never wait for the reply on this thread, QEMU answers it only after
        // asking us for the new config on the main socket.
        if (_backendChannel is null || !IsActive) return false;
        try
        {
            _backendChannel.SendConfigChange(needReply: false);
            return true;
        }
        catch (VhostUserException e)
        {
            Logger.LogWarning("{Name}: could not send the config-change notification: {Reason}", Name, e.Message);
            return false;
        }
    }

    /// <summary>Asks <see cref="Run"/> to return; safe from any thread and from signal handlers.</summary>
    public void Stop()
    {
        _stopRequested = true;
        _exit.Signal();
    }

    /// <summary>Runs the loop on the calling thread until <see cref="Stop"/>.</summary>
    public void Run()
    {
        _device.Attach(this);
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[32];
        long pollTicks = BusyPoll > TimeSpan.Zero ? (long)(BusyPoll.TotalSeconds * Stopwatch.Frequency) : 0;
        long pollUntil = 0;
        while (!_stopRequested)
        {
            bool polling = pollTicks != 0 && Stopwatch.GetTimestamp() < pollUntil;
            int count = _epoll.Wait(events, polling ? 0 : -1);
            // Written by this thread only; other threads just read them.
            if (polling) Volatile.Write(ref _pollingWaits, _pollingWaits + 1);
            else Volatile.Write(ref _sleepingWaits, _sleepingWaits + 1);
            if (count > 0 && pollTicks != 0) pollUntil = Stopwatch.GetTimestamp() + pollTicks;
            for (int i = 0; i < count && !_stopRequested; i++)
            {
                ulong token = events[i].Data;
                uint mask = events[i].Events;
                if (token < _exitToken) OnKick((int)token);
                else if (token == _connectionToken) OnConnectionReadable(mask);
                else if (token == _listenerToken) OnListenerReadable();
                else if (token >= FirstDeviceToken) RunDeviceEvent(token, mask);
            }
        }
        if (_connection is not null) Disconnect("the daemon is shutting down");
    }

    private void OnListenerReadable()
    {
        UnixSocket? socket;
        try
        {
            socket = _listener.Accept();
        }
        catch (SyscallException e)
        {
            Logger.LogError("{Name}: accept failed: {Reason}", Name, e.Message);
            return;
        }
        if (socket is null) return;
        socket.SetTimeouts(MessageReceiveTimeout);
        _connection = new VhostUserConnection(socket) { MessageTimeout = MessageReceiveTimeout };
        SessionCount++;
        // One front-end at a time: later ones wait in the backlog until this one leaves.
        _epoll.Remove(_listener.Fd);
        _epoll.Add(socket.Fd, _connectionToken, Libc.EPOLLIN | Libc.EPOLLRDHUP);
        Logger.LogInformation("{Name}: front-end connected: {Peer} (session {Session})", Name, socket.DescribePeer(), SessionCount);
    }

    private void OnConnectionReadable(uint events)
    {
        if (_connection is null) return;
        try
        {
            if (!_connection.Receive(out MessageHeader header, _payload, _fds))
            {
                Disconnect("the front-end closed the connection");
                return;
            }
            Dispatch(header, _payload.AsSpan(0, (int)header.Size));
        }
        catch (VhostUserException e) when (e.DropConnection)
        {
            Disconnect(e.Message);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Logger.LogError(e, "{Name}: internal error while handling a request", Name);
            Disconnect("internal error");
        }
        finally
        {
            _fds.Dispose();
        }
    }

    private void OnKick(int index)
    {
        Vring ring = _vrings[index];
        if (ring.Kick is null || ring.Kick.Consume() == 0) return;
        if (ring.IsLive) RunDevice(static (d, i) => d.QueueKicked(i), index);
    }

    private void RunDeviceEvent(ulong token, uint events)
    {
        try
        {
            _device.HandleEvent(token, events);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Logger.LogError(e, "{Name}: device failed handling event {Token:x}", Name, token);
        }
    }

    private void RunDevice(Action<IVhostUserDevice, int> action, int index)
    {
        try
        {
            action(_device, index);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Logger.LogError(e, "{Name}: device failed on queue {Index}", Name, index);
        }
        if (_vrings[index].Queue.IsBroken) _vrings[index].ReportBroken();
    }

    private void Disconnect(string reason)
    {
        Logger.LogInformation("{Name}: front-end disconnected: {Reason}", Name, reason);
        // docs/spec/vhost-user.md §10.4: the front-end resumes from the used index, so settle what is in flight.
        StopAllRings();
        _device.Reset();
        foreach (var ring in _vrings) ring.Reset();
        _backendChannel?.Dispose();
        _backendChannel = null;
        SwapMemory(GuestMemory.Empty);
        if (_connection is not null)
        {
            _epoll.Remove(_connection.Socket.Fd);
            _connection.Dispose();
            _connection = null;
        }
        _ackedFeatures = 0;
        _ackedProtocolFeatures = ProtocolFeatures.None;
        _status = 0;
        if (!_stopRequested) _epoll.Add(_listener.Fd, _listenerToken);
    }

    private void StopAllRings()
    {
        for (int i = 0; i < _vrings.Length; i++)
        {
            if (_vrings[i].IsLive) RunDevice(static (d, q) => d.QueueStopping(q), i);
            if (_vrings[i].Kick is { } kick) _epoll.Remove(kick.Fd);
            _vrings[i].Started = false;
        }
    }

    /// <summary>Installs <paramref name="memory"/> and disposes the previous set, which unmaps only
    /// the regions it still owns (none, when the new set was derived from it).</summary>
    private void SwapMemory(GuestMemory memory)
    {
        GuestMemory old = _memory;
        _memory = memory;
        old.Dispose();
    }

    public void Dispose()
    {
        if (_connection is not null) Disconnect("disposed");
        foreach (var ring in _vrings) ring.Dispose();
        _fds.Dispose();
        _epoll.Dispose();
        _exit.Dispose();
    }
}
