using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Can;
using VhostDeviceCan.Can.Cannelloni;
using VhostDeviceCan.Device.Metrics;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>
/// A virtual bus joined to one cannelloni peer over UDP (docs/spec/cannelloni.md). The bridge is
/// a bus member that is no guest, on a thread of its own with its own epoll. Frames from the bus
/// are batched into datagrams; datagrams from the peer go onto the bus. Being one member, it
/// never hears its own frames, so nothing from the peer is sent back to it; several bridges on
/// one bus make the daemon a hub.
/// </summary>
/// <remarks>
/// Back-pressure: towards the peer the bridge always drains its inbox and drops (counted) when
/// the socket's buffer is full, so a gone or slow peer never holds the bus back. From the peer,
/// a datagram the bus has no room for stays here (one datagram at most: its bytes and the place
/// reached) and the socket is not read until the bus takes it; meanwhile the kernel's socket
/// buffer fills and drops what follows, uncounted here.
/// </remarks>
public sealed partial class CannelloniUdpBridge : BusMemberBridge<CannelloniUdpSpec, BridgeCounters>
{
    /// <summary>
    /// No datagram for this long and the peer is logged down. cannelloni sends nothing while its
    /// bus is quiet, so this also means a peer whose bus is idle; it changes nothing but the log.
    /// </summary>
    public static readonly TimeSpan PeerTimeout = TimeSpan.FromSeconds(5);

    private const ulong SocketToken = 3, BatchToken = 4, PeerToken = 5;

    private readonly Socket _socket;
    private readonly SocketAddress _peerAddress;
    private readonly SocketAddress _from;
    private readonly TimerFd _batchTimer = new();
    private readonly TimerFd _peerTimer = new();

    // Towards the peer: the datagram being filled.
    private readonly byte[] _outgoing = new byte[CannelloniFormat.DefaultPayloadSize];
    private int _outgoingLength = CannelloniFormat.HeaderSize;
    private int _outgoingCount;
    private byte _sequence;
    private bool _batchArmed;
    private readonly CanFrame[] _fromBus = new CanFrame[FramesPerCall];
    private readonly TxOutcome[] _outcomes = new TxOutcome[1];

    // From the peer: the datagram being delivered, and the frames decoded from it not yet on the bus.
    private readonly byte[] _incoming = new byte[CannelloniFormat.MaxDatagramSize + 1];
    private int _incomingLength;
    private int _incomingOffset;
    private int _incomingRemaining;

    private bool _peerUp;
    private long _lastHeard;
    private byte _expectedSequence;

    private CannelloniUdpBridge(CannelloniUdpSpec spec, VirtualCanBusMember member, Socket socket, ILogger log, string threadName)
        : base(spec, new BridgeCounters(), member, log, threadName)
    {
        _socket = socket;
        BatchTimeout = spec.BatchTimeout;
        BoundTo = (IPEndPoint)socket.LocalEndPoint!;
        _peerAddress = spec.Peer.Serialize();
        _from = new SocketAddress(spec.Peer.AddressFamily);
        _epoll.Add((int)socket.Handle, SocketToken);
        _epoll.Add(_batchTimer.Fd, BatchToken);
        _epoll.Add(_peerTimer.Fd, PeerToken);
    }

    public override string Endpoint => $"listening on {MetricsAddress.Format(BoundTo)} for datagrams from the peer only";
    /// <summary>Where the socket is bound; the port the kernel chose when the spec gave 0.</summary>
    public IPEndPoint BoundTo { get; }
    public TimeSpan BatchTimeout { get; }
    public override bool PeerUp => Volatile.Read(ref _peerUp);
    public override string Peer => MetricsAddress.Format(_spec.Peer);

    /// <summary>Binds the socket, joins the bus and starts the bridge's thread. Throws
    /// <see cref="SocketException"/> when the address cannot be bound.</summary>
    public static CannelloniUdpBridge Start(CannelloniUdpSpec spec, ILogger log, string threadName)
    {
        Socket socket = BindDatagrams(spec.Bind);
        return JoinAndStart(spec, socket, member => new CannelloniUdpBridge(spec, member, socket, log, threadName));
    }

    public override string ToString() =>
        $"{_spec.Bus} <-> cannelloni {MetricsAddress.Format(_spec.Peer)} from {MetricsAddress.Format(BoundTo)}: peer {(PeerUp ? "up" : "down")}, {Counters}";

    private protected override void HandleFarSide(ulong token, uint events)
    {
        switch (token)
        {
            case SocketToken:
                if (!_waitingForRoom) ReadSocket();
                break;
            case BatchToken:
                _batchTimer.Consume();
                _batchArmed = false;
                Flush();
                break;
            case PeerToken:
                _peerTimer.Consume();
                CheckPeer();
                break;
        }
    }

    private protected override void Stopping() => Flush();

    private protected override void ReleaseDescriptors()
    {
        _socket.Dispose();
        _batchTimer.Dispose();
        _peerTimer.Dispose();
    }
}
