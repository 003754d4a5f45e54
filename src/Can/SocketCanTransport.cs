using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Can;

/// <summary>
/// A host SocketCAN interface (can0, vcan0) through one raw socket per device, so the guest never
/// receives its own frames from the daemon (the guest driver echoes them itself; docs/spec/virtio-can.md §10.15).
/// CAN FD is carried exactly when the interface MTU is CANFD_MTU. With CAN_RAW_RECV_OWN_MSGS the
/// kernel hands each sent frame back flagged MSG_CONFIRM once the interface transmitted it: those
/// are the confirmations for LATE_TX_ACK and are never forwarded. Error frames for bus-off and
/// restart drive <see cref="BusState"/>.
/// </summary>
/// <remarks>
/// The device polls two small epoll instances rather than the socket itself, so that the socket
/// can be reopened when the interface is deleted and created again (it gets a new index) without
/// the device's event loop noticing.
/// <para>
/// Back-pressure comes in two kinds. EAGAIN means the socket's send buffer is full, and the
/// socket's EPOLLOUT says when it has room. ENOBUFS means the interface's queue (qdisc) is full,
/// which the socket knows nothing about: it stays writable, so waiting for EPOLLOUT would wake the
/// device at once, again and again, for as long as the queue stays full. After ENOBUFS the
/// write poll fd therefore follows a short timer instead of the socket.
/// </para>
/// </remarks>
public sealed class SocketCanTransport : ICanTransport
{
    private const uint ErrorClasses = Libc.CAN_ERR_BUSOFF | Libc.CAN_ERR_RESTARTED | Libc.CAN_ERR_CRTL;

    /// <summary>Retry delay after ENOBUFS: about ten classic frames at 1 Mbit/s, the queue length of
    /// a CAN interface, so a full queue has usually drained a little by then.</summary>
    /// <summary>
    /// Receive buffer asked for. The kernel default (rmem_default, about 200 KiB) holds only some
    /// 250 frames: a burst from the bus while the event loop is busy overflows it, and the kernel
    /// drops frames (and, worse, the confirmations LATE_TX_ACK waits for) without telling anyone.
    /// 4 MiB holds several thousand, about half a second of a saturated 1 Mbit/s bus.
    /// </summary>
    private const int ReceiveBufferBytes = 4 << 20;

    private static readonly TimeSpan QueueFullRetry = TimeSpan.FromMilliseconds(2);

    private readonly Epoll _readable = new();
    private readonly Epoll _writable = new();
    private readonly CanReceiveBuffer _buffer = new(64);
    private readonly EventFd _leftoverPending = new();
    private bool _leftoverSignalled;
    private readonly TimerFd _queueFullRetry = new();
    private bool _waitingForQueue;
    private CanSocket _socket;
    private CanBusState _state;
    private int _next;
    private int _received;

    // Frames sent and not yet echoed, oldest first, each as (can_id | len << 32, first 8 data
    // bytes): the kernel echoes in send order, so an echo is matched against the oldest. The
    // first _abandoned of them were given up on by the device; their echoes are swallowed.
    private const int SentCapacity = 4096;
    private readonly (ulong Head, ulong Data)[] _sent = new (ulong, ulong)[SentCapacity];
    private int _sentFront;
    private int _sentCount;
    private int _abandoned;

    private SocketCanTransport(CanSocket socket)
    {
        _socket = socket;
        Name = socket.InterfaceName;
        SupportsFd = socket.FdFrames;
        Attach(socket);
        _readable.Add(_leftoverPending.Fd, 1, Libc.EPOLLIN);
        _writable.Add(_queueFullRetry.Fd, 1, Libc.EPOLLIN);
        _state = CanSocket.TryGetLinkState(Name, out _, out bool up) && up ? CanBusState.Active : CanBusState.Down;
    }

    /// <summary>Opens <paramref name="interfaceName"/>; throws <see cref="SyscallException"/> naming it
    /// when it does not exist, is not CAN, or the kernel has no AF_CAN.</summary>
    public static SocketCanTransport Open(string interfaceName) => new(Configure(CanSocket.Open(interfaceName)));

    public string Name { get; }
    public bool SupportsFd { get; }
    public TxConfirmation Confirmation => TxConfirmation.Deferred;
    public int PollFd => _readable.Fd;
    public int WritePollFd => _writable.Fd;

    /// <summary>While down, every read re-checks the link (one ioctl), so a START after the interface
    /// came back, or was created again, finds it usable without any polling in between.</summary>
    public CanBusState BusState
    {
        get
        {
            if (_state == CanBusState.Down) RefreshLink();
            return _state;
        }
    }

    public TransmitStatus Transmit(in CanFrame frame)
    {
        // The socket's view, not SupportsFd: an interface deleted and created again may have come
        // back classic-only, and writing 72 bytes to that socket would throw.
        if (frame.IsFd && !_socket.FdFrames) return TransmitStatus.Rejected;
        int errno = _socket.Send(frame.WireBytes);
        if (errno != Errno.ENOBUFS && _waitingForQueue) WatchSocketForRoom();
        switch (errno)
        {
            case 0:
                RememberSent(frame.WireBytes);
                return TransmitStatus.Sent;
            case Errno.EAGAIN:
                return TransmitStatus.WouldBlock;
            case Errno.ENOBUFS:
                WaitForQueue();
                return TransmitStatus.WouldBlock;
            case Errno.ENETDOWN or Errno.ENODEV or Errno.ENXIO:
                _state = CanBusState.Down;
                ForgetSent();
                return TransmitStatus.Down;
            default:
                return TransmitStatus.Rejected;
        }
    }

    public int Receive(Span<CanFrame> frames, out int confirmedTransmissions)
    {
        confirmedTransmissions = 0;
        int count = 0;
        while (count < frames.Length)
        {
            if (_next == _received)
            {
                _next = _received = 0;
                int errno = _socket.Receive(_buffer, out int received);
                if (errno is Errno.ENETDOWN or Errno.ENODEV or Errno.ENXIO)
                {
                    // The kernel reports the link going down (or away) once, as a socket error.
                    // Taking an interface down empties its queue: nothing sent will be echoed.
                    _state = CanBusState.Down;
                    ForgetSent();
                    continue;
                }
                if (errno != 0 || received == 0) break;
                _received = received;
                if (_state == CanBusState.Down) _state = CanBusState.Active;
            }
            // Messages of the last recvmmsg the caller had no room for wait here for the next call.
            for (; _next < _received && count < frames.Length; _next++)
            {
                int i = _next;
                if (_buffer.IsConfirmation(i))
                {
                    if (IsCurrentConfirmation(_buffer.Frame(i))) confirmedTransmissions++;
                    continue;
                }
                uint id = _buffer.CanId(i);
                if ((id & Libc.CAN_ERR_FLAG) != 0)
                {
                    if ((id & Libc.CAN_ERR_BUSOFF) != 0) _state = CanBusState.BusOff;
                    else if ((id & Libc.CAN_ERR_RESTARTED) != 0) _state = CanBusState.Active;
                    continue;
                }
                ref CanFrame frame = ref frames[count++];
                ReadOnlySpan<byte> wire = _buffer.Frame(i);
                frame = default;
                wire.CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(new Span<CanFrame>(ref frame)));
                // 16-byte reads are struct can_frame: byte 5 is padding there, not FD flags.
                if (wire.Length == Libc.CANFD_MTU) frame.Flags |= CanFrame.CANFD_FDF;
                else frame.Flags = 0;
            }
            if (_next == _received && _received < _buffer.Capacity) break;
        }
        // Leftovers keep the poll fd readable only if the socket is; make sure the caller comes back.
        // Touch the eventfd only when its state changes: no extra syscall per batch otherwise.
        bool leftovers = _next < _received;
        if (leftovers != _leftoverSignalled)
        {
            if (leftovers) _leftoverPending.Signal();
            else _leftoverPending.Consume();
            _leftoverSignalled = leftovers;
        }
        return count;
    }

    /// <summary>
    /// Everything sent so far is written off: echoes of those frames, should they still go out,
    /// are not reported. A new socket cannot do this: it would hear the old one's frames as
    /// another node's and hand the guest its own frames back.
    /// </summary>
    public void AbandonConfirmations() => _abandoned = _sentCount;

    private static (ulong Head, ulong Data) Key(ReadOnlySpan<byte> wire) =>
        // Byte 5 (FD flags) is left out: the kernel adds CANFD_FDF to what it sends.
        (System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(wire) | (ulong)wire[4] << 32,
         System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(wire[8..]));

    private void RememberSent(ReadOnlySpan<byte> wire)
    {
        if (_sentCount == SentCapacity)
        {
            // More outstanding than tracked (never with the device's bounded queue): lose the oldest.
            _sentFront = (_sentFront + 1) % SentCapacity;
            _sentCount--;
            if (_abandoned > 0) _abandoned--;
        }
        _sent[(_sentFront + _sentCount++) % SentCapacity] = Key(wire);
    }

    private void ForgetSent() => _sentFront = _sentCount = _abandoned = 0;

    /// <summary>
    /// Matches an echo with the oldest frames sent. Frames before the matching one were never
    /// transmitted (dropped from the queue) and will not be echoed. True when the echo confirms a
    /// frame the device still waits for, false when it belongs to an abandoned one.
    /// </summary>
    private bool IsCurrentConfirmation(ReadOnlySpan<byte> wire)
    {
        var key = Key(wire);
        for (int i = 0; i < _sentCount; i++)
        {
            if (_sent[(_sentFront + i) % SentCapacity] != key) continue;
            int skipped = i + 1;
            bool abandoned = i < _abandoned;
            _sentFront = (_sentFront + skipped) % SentCapacity;
            _sentCount -= skipped;
            _abandoned = Math.Max(0, _abandoned - skipped);
            return !abandoned;
        }
        // Not a frame we know of (tracking was lost): count it, as before any tracking.
        return true;
    }

    /// <summary>The interface queue is full: let the write poll fd fire after a delay rather than
    /// on the socket's EPOLLOUT, which is already set and would fire at once.</summary>
    private void WaitForQueue()
    {
        _queueFullRetry.Consume();
        _queueFullRetry.Arm(QueueFullRetry);
        if (_waitingForQueue) return;
        _waitingForQueue = true;
        _writable.Remove(_socket.Fd);
    }

    private void WatchSocketForRoom()
    {
        _waitingForQueue = false;
        _queueFullRetry.Disarm();
        _queueFullRetry.Consume();
        _writable.Add(_socket.Fd, 0, Libc.EPOLLOUT);
    }

    private void RefreshLink()
    {
        if (!CanSocket.TryGetLinkState(Name, out int index, out bool up) || !up) return;
        if (index != _socket.InterfaceIndex)
        {
            // Deleted and created again: the old socket is bound to an index that no longer exists.
            CanSocket replacement;
            try
            {
                replacement = Configure(CanSocket.Open(Name));
            }
            catch (SyscallException)
            {
                return;
            }
            _readable.Remove(_socket.Fd);
            if (!_waitingForQueue) _writable.Remove(_socket.Fd);
            _waitingForQueue = false;
            _queueFullRetry.Disarm();
            _queueFullRetry.Consume();
            _socket.Dispose();
            _socket = replacement;
            ForgetSent();
            Attach(replacement);
        }
        _state = CanBusState.Active;
    }

    private void Attach(CanSocket socket)
    {
        _readable.Add(socket.Fd, 0, Libc.EPOLLIN);
        _writable.Add(socket.Fd, 0, Libc.EPOLLOUT);
    }

    private static CanSocket Configure(CanSocket socket)
    {
        try
        {
            socket.ReceiveOwnMessages = true;
            socket.ErrorMask = ErrorClasses;
            socket.RequestReceiveBuffer(ReceiveBufferBytes);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        _socket.Dispose();
        _buffer.Dispose();
        _leftoverPending.Dispose();
        _queueFullRetry.Dispose();
        _readable.Dispose();
        _writable.Dispose();
    }
}
