using Microsoft.Extensions.Logging;
using VhostDeviceCan.Interop;
using VhostDeviceCan.VhostUser;
using VhostDeviceCan.Virtqueue;

namespace VhostDeviceCan.Backend;

/// <summary>
/// One front-end's connection to the back-end, from accept to disconnect: the socket, the rings
/// with their eventfds, the guest memory map, the back-end channel and what was negotiated. Created
/// when the <see cref="DeviceEventLoop"/> accepts a front-end and disposed when it leaves, so a
/// disconnect can forget nothing: all per-connection state dies with this object. What a virtio
/// reset clears inside a connection (RESET_DEVICE, SET_STATUS 0) is <see cref="DriverState"/>.
/// </summary>
public sealed partial class BackendSession : IDisposable
{
    /// <summary>A front-end never pauses inside one message; a peer that does is hostile or dead.</summary>
    private static readonly TimeSpan MessageReceiveTimeout = TimeSpan.FromSeconds(2);

    private readonly IVhostUserDevice _device;
    private readonly bool _sharedThread;
    private readonly ulong _connectionToken;
    /// <summary>Part of a message has come; the socket is watched edge-triggered until the rest does.</summary>
    private bool _waitingForRest;
    private readonly WatchedFds _watched;
    private readonly VhostUserConnection _connection;
    private readonly Vring[] _vrings;
    private readonly byte[] _payload = new byte[MessageHeader.MaxPayload];
    private readonly ReceivedFds _fds = new();
    private GuestMemory _memory = GuestMemory.Empty;
    private BackendChannel? _backendChannel;
    private ProtocolFeatures _ackedProtocolFeatures;
    private DriverState _driver;

    /// <summary>What the driver set up and a virtio reset clears; the connection keeps the rest.</summary>
    private struct DriverState
    {
        /// <summary>SET_FEATURES, without VHOST_USER_F_PROTOCOL_FEATURES.</summary>
        public ulong AckedFeatures;
        /// <summary>SET_STATUS.</summary>
        public byte Status;
    }

    /// <summary>Takes <paramref name="socket"/> and watches it in <paramref name="fds"/> with
    /// <paramref name="connectionToken"/>; kick fds are watched with their queue index as token.</summary>
    /// <summary>See <see cref="DeviceEventLoop.AllowUnsealedMemory"/>.</summary>
    public bool AllowUnsealedMemory { get; init; }

    /// <summary>Called once, when the peer's first bytes arrive, before they are handled.</summary>
    internal Action? Spoke { get; init; }

    /// <summary>Whether the peer has sent anything. A front-end speaks first (docs/spec/vhost-user.md §10.1),
    /// so a connection that closes before it does was no front-end: another back-end checking
    /// whether the socket is served, or a health check.</summary>
    internal bool HasSpoken { get; private set; }

    /// <param name="sharedThread">See <see cref="DeviceEventLoop.SharedThread"/>.</param>
    internal BackendSession(UnixSocket socket, IVhostUserDevice device, WatchedFds fds, ulong connectionToken, ILogger logger, string name,
        bool sharedThread = false)
    {
        _device = device;
        _watched = fds;
        _sharedThread = sharedThread;
        _connectionToken = connectionToken;
        Logger = logger;
        Name = name;
        TimeSpan messageTimeout = sharedThread ? DeviceEventLoop.SharedMessageTimeout : MessageReceiveTimeout;
        socket.SetTimeouts(messageTimeout);
        _connection = new VhostUserConnection(socket) { MessageTimeout = messageTimeout, NonBlockingSend = sharedThread };
        _vrings = new Vring[device.QueueCount];
        for (int i = 0; i < _vrings.Length; i++) _vrings[i] = new Vring(i, device.MaxQueueSize, logger);
        // Read now: a peer that has already closed again leaves its pid, not its name, in /proc.
        Identity = socket.Identify();
        Peer = Identity is { } identity ? $"pid {identity.Pid} ({identity.Command}), uid {identity.Uid}" : "unknown peer";
        _watched.Add(socket.Fd, connectionToken, Libc.EPOLLIN | Libc.EPOLLRDHUP);
    }

    public ILogger Logger { get; }
    public string Name { get; }
    public GuestMemory Memory => _memory;
    public ulong AckedFeatures => _driver.AckedFeatures;
    public bool IsActive => Array.Exists(_vrings, v => v.Started);
    public ulong OfferedFeatures => _device.Features | VirtioFeatures.Bit(VirtioFeatures.VHOST_USER_F_PROTOCOL_FEATURES);
    public Vring Queue(int index) => _vrings[index];

    /// <summary>The peer's credentials as they were when it connected, for the log.</summary>
    internal string Peer { get; }

    /// <summary>The same, field by field; null when the kernel could not say.</summary>
    internal PeerIdentity? Identity { get; }

    internal int SocketFd => _connection.Socket.Fd;

    /// <summary>Tells the front-end that config space changed, without waiting for its reply.</summary>
    internal bool NotifyConfigChanged()
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

    /// <summary>Serves the request waiting on the socket (<paramref name="events"/>: what epoll
    /// reported for it). Returns why the connection must end, or null to keep it.</summary>
    internal string? ServeRequest(uint events)
    {
        try
        {
            if (_sharedThread && !WholeMessageWaits(events)) return null;
            if (!_connection.Receive(out MessageHeader header, _payload, _fds)) return "the front-end closed the connection";
            MarkSpoken();
            Dispatch(header, _payload.AsSpan(0, (int)header.Size));
            return null;
        }
        catch (VhostUserException e) when (e.DropConnection)
        {
            // A socket error before any byte (ECONNRESET) leaves a silent peer silent; anything
            // else means bytes arrived, a front-end that broke the protocol.
            if (e.Error != VhostUserError.SocketError) MarkSpoken();
            return e.Message;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Logger.LogError(e, "{Name}: internal error while handling a request", Name);
            return "internal error";
        }
        finally
        {
            _fds.Dispose();
        }
    }

    /// <summary>
    /// Shared thread: whether a whole message (header and the payload it announces) waits in the
    /// socket, so that reading it cannot wait for the peer. While only part of one is there the
    /// socket is watched edge-triggered, reported again when more bytes come rather than for as
    /// long as the part sits there; a peer that never sends the rest holds nobody but itself.
    /// A hang-up, an error or a header announcing too much goes to <see cref="VhostUserConnection.Receive"/>
    /// at once, which ends the connection without waiting.
    /// </summary>
    private bool WholeMessageWaits(uint events)
    {
        UnixSocket socket = _connection.Socket;
        bool whole = (events & (Libc.EPOLLRDHUP | Libc.EPOLLHUP | Libc.EPOLLERR)) != 0;
        if (!whole)
        {
            Span<byte> header = stackalloc byte[MessageHeader.Length];
            int unread = socket.UnreadBytes();
            if (unread == 0) whole = true;
            else if (socket.Peek(header) == MessageHeader.Length)
            {
                uint size = Payload.Read<MessageHeader>(header).Size;
                whole = size > MessageHeader.MaxPayload || unread >= MessageHeader.Length + (long)size;
            }
        }
        if (whole == _waitingForRest)
        {
            _waitingForRest = !whole;
            _watched.Modify(socket.Fd, _connectionToken, Libc.EPOLLIN | Libc.EPOLLRDHUP | (whole ? 0 : Libc.EPOLLET));
        }
        return whole;
    }

    private void MarkSpoken()
    {
        if (HasSpoken) return;
        HasSpoken = true;
        Spoke?.Invoke();
    }

    internal void OnKick(int index)
    {
        Vring ring = _vrings[index];
        // Not read (see SET_VRING_KICK): a kick is an edge, each one reported once.
        if (ring.Kick is null) return;
        if (ring.IsLive) RunDevice(static (d, i) => d.QueueKicked(i), index);
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

    private void StopAllRings()
    {
        for (int i = 0; i < _vrings.Length; i++)
        {
            if (_vrings[i].IsLive) RunDevice(static (d, q) => d.QueueStopping(q), i);
            if (_vrings[i].Kick is { } kick) _watched.Remove(kick.Fd);
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

    /// <summary>The front-end left: settles what is in flight, resets the device and releases
    /// every fd and mapping of the connection.</summary>
    public void Dispose()
    {
        // docs/spec/vhost-user.md §10.4: the front-end resumes from the used index, so settle what is in flight.
        StopAllRings();
        _device.Reset();
        foreach (var ring in _vrings) ring.Dispose();
        _backendChannel?.Dispose();
        SwapMemory(GuestMemory.Empty);
        _watched.Remove(_connection.Socket.Fd);
        _connection.Dispose();
        _fds.Dispose();
    }
}
