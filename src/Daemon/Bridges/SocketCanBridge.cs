using Microsoft.Extensions.Logging;
using VhostDeviceCan.Can;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>
/// A virtual bus joined to a host SocketCAN interface through one raw socket: a bus member that
/// is no guest, on a thread of its own with its own epoll. Frames from the interface go onto the
/// bus; frames from the bus go out on the interface, CAN FD ones only where its MTU carries them.
/// The socket does not receive its own frames (CAN_RAW_RECV_OWN_MSGS off) and the bus never hands
/// the bridge its own, so no frame returns to where it came from; loopback stays on, so the host's
/// other sockets on the interface (candump, a guest's device on it, another daemon's bridge) hear
/// what the bus sends.
/// </summary>
/// <remarks>
/// Back-pressure, towards the interface: a full transmit queue (EAGAIN from the socket's send
/// buffer, ENOBUFS from the interface's queue) holds the frames taken from the bus and stops
/// taking more, so the bus holds its senders back, as it does for a guest that is slow; after the
/// bus's overrun bound without progress the held frames are dropped (tx-queue-full) and, until a
/// frame goes out again, each frame the queue refuses is dropped at once, so a stuck controller
/// stalls the bus once and never again. From the interface: frames the bus has no room for stay
/// here (one receive batch at most) and the socket is not read until the bus takes them; the
/// kernel then drops what overflows the socket's receive queue, and the bridge counts those drops
/// (SO_RXQ_OVFL). An interface that goes down or away is logged once and counted; the bus goes on
/// serving its guests (frames for the interface are dropped as interface-down) and the bridge
/// resumes when the link is back, reopening its socket if the interface was created again.
/// </remarks>
public sealed partial class SocketCanBridge : BusMemberBridge<SocketCanSpec, SocketCanBridgeCounters>
{
    /// <summary>As a guest's device asks for (SocketCanTransport): about half a second of a saturated 1 Mbit/s bus.</summary>
    private const int ReceiveBufferBytes = 4 << 20;

    /// <summary>Retry delay after ENOBUFS, as a guest's device waits (SocketCanTransport).</summary>
    private static readonly TimeSpan QueueFullRetry = TimeSpan.FromMilliseconds(2);

    /// <summary>How often a down interface is looked at (one ioctl) to see whether it is back.</summary>
    public static readonly TimeSpan LinkCheckInterval = TimeSpan.FromMilliseconds(250);

    private const ulong SocketToken = 3, RetryToken = 4, LinkToken = 5;

    private CanSocket _socket;
    private readonly TimerFd _retryTimer = new();
    private readonly TimerFd _linkTimer = new();

    // Towards the interface: frames taken from the bus and not yet sent.
    private readonly CanFrame[] _fromBus = new CanFrame[FramesPerCall];
    private readonly TxOutcome[] _outcomes = new TxOutcome[FramesPerCall];
    private int _fromBusStart;
    private int _fromBusCount;
    private bool _waitingForQueue;
    private bool _waitingForWritable;
    private long _blockedSince;
    private bool _queueStuck;
    private bool _fdWarned;

    // From the interface: frames received and not yet on the bus.
    private readonly CanReceiveBuffer _buffer = new(FramesPerCall);

    private bool _down;
    /// <summary>Overflows counted by sockets replaced since (an interface created again).</summary>
    private long _overflowsBefore;

    private SocketCanBridge(SocketCanSpec spec, VirtualCanBusMember member, CanSocket socket, ILogger log, string threadName)
        : base(spec, new SocketCanBridgeCounters(), member, log, threadName)
    {
        _socket = socket;
        _epoll.Add(socket.Fd, SocketToken);
        _epoll.Add(_retryTimer.Fd, RetryToken);
        _epoll.Add(_linkTimer.Fd, LinkToken);
    }

    public override string Endpoint => $"on {_spec.Interface} ({Carries(_socket)})";
    /// <summary>Whether the interface is up and bridged now.</summary>
    public override bool PeerUp => InterfaceUp;
    public override string Peer => _spec.Interface;
    public bool InterfaceUp => !Volatile.Read(ref _down);

    /// <summary>Opens the socket on the interface, joins the bus and starts the bridge's thread.
    /// Throws <see cref="IOException"/> (no AF_CAN, no such interface, the interface down) or
    /// <see cref="SyscallException"/>, each with a one-line message naming the interface.</summary>
    public static SocketCanBridge Start(SocketCanSpec spec, ILogger log, string threadName)
    {
        CanSocket socket = Open(spec.Interface);
        if (!CanSocket.TryGetLinkState(spec.Interface, out _, out bool up) || !up)
        {
            socket.Dispose();
            throw new IOException($"CAN interface {spec.Interface} is down; bring it up first (ip link set {spec.Interface} up)");
        }
        return JoinAndStart(spec, socket, member => new SocketCanBridge(spec, member, socket, log, threadName));
    }

    /// <summary>A raw socket that hears every frame on the interface but its own.</summary>
    private static CanSocket Open(string interfaceName)
    {
        CanSocket socket;
        try
        {
            socket = CanSocket.Open(interfaceName);
        }
        catch (SyscallException e)
        {
            throw TransportFactory.Explain(e);
        }
        catch (ArgumentException e)
        {
            throw new IOException(e.Message, e);
        }
        try
        {
            // Off is the kernel's default; said here because the loop rule rests on it.
            socket.ReceiveOwnMessages = false;
            socket.Loopback = true;
            socket.CountReceiveQueueOverflows = true;
            socket.RequestReceiveBuffer(ReceiveBufferBytes);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static string Carries(CanSocket socket) =>
        socket.FdFrames ? $"CAN FD, MTU {socket.Mtu}" : $"classic CAN only, MTU {socket.Mtu}: CAN FD frames from the bus are dropped";

    public override string ToString() =>
        $"{_spec.Bus} <-> socketcan {_spec.Interface}: interface {(InterfaceUp ? "up" : "down")}, {Counters}; "
        + $"overrun by the bus: {_member.Dropped} frames ({_member.Overruns} times)";

    private protected override void HandleFarSide(ulong token, uint events)
    {
        switch (token)
        {
            case SocketToken:
                if ((events & Libc.EPOLLOUT) != 0 && _waitingForWritable) DrainBus();
                if ((events & ~Libc.EPOLLOUT) != 0 && !_waitingForRoom) ReadSocket();
                break;
            case RetryToken:
                _retryTimer.Consume();
                DrainBus();
                break;
            case LinkToken:
                _linkTimer.Consume();
                CheckLink();
                break;
        }
    }

    private protected override void ReleaseDescriptors()
    {
        _socket.Dispose();
        _buffer.Dispose();
        _retryTimer.Dispose();
        _linkTimer.Dispose();
    }
}
