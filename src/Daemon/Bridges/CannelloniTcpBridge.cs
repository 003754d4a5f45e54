using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Can;
using VhostDeviceCan.Can.Cannelloni;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>
/// A virtual bus joined to one cannelloni peer over TCP (docs/spec/cannelloni.md §5 to
/// docs/spec/cannelloni.md §7), as the server that waits for it or the client that connects to
/// it. Like the UDP bridge it is a bus member that is no guest, on a thread of its own with its
/// own epoll, and never hears its own frames back; several bridges on one bus make a hub.
/// </summary>
/// <remarks>
/// Back-pressure: towards the peer, frames are encoded into a bounded buffer the socket drains
/// as it can; when the buffer is full, frames are dropped and counted, so a peer that reads
/// slowly or not at all never holds the bus back. From the peer, frames the bus has no room for
/// wait here and the socket is not read: TCP's window then slows the peer, and nothing is lost.
/// A peer that vanishes without closing is found by keep-alives and TCP_USER_TIMEOUT
/// (<see cref="DeadPeerTimeout"/>); one that never sends its handshake by <see cref="HandshakeTimeout"/>.
/// </remarks>
public sealed partial class CannelloniTcpBridge : BusMemberBridge<CannelloniTcpSpec, CannelloniTcpCounters>
{
    /// <summary>A connection whose handshake has not come by then is closed (cannelloni has no limit;
    /// without one a silent client would hold the server's only place).</summary>
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(5);
    /// <summary>The client's first wait before connecting again; it doubles up to <see cref="LongestRetry"/>.</summary>
    public static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(100);
    public static readonly TimeSpan LongestRetry = TimeSpan.FromSeconds(5);
    /// <summary>About how long a peer may stay silent to keep-alives, or leave sent data unacknowledged, before its connection is closed.</summary>
    public static readonly TimeSpan DeadPeerTimeout = TimeSpan.FromSeconds(20);
    /// <summary>Encoded frames waiting for the socket: about 900 FD frames of 64 bytes, beyond the kernel's own buffer.</summary>
    public const int SendBufferSize = 64 * 1024;

    private const ulong ListenerToken = 3, TimerToken = 4, ConnectionToken = 5;
    // A connection's token carries its generation above the low byte, so an event still queued for
    // a connection closed earlier in the same wake-up is told from the next connection's.
    private const int GenerationShift = 8;
    private const int ReadsPerWakeUp = 16;

    private enum Link { Waiting, Connecting, Handshaking, Up }

    private readonly Socket? _listener;
    private readonly TimerFd _timer = new();

    private Socket? _connection;
    private ulong _generation;
    private uint _interest;
    private bool _registered;
    private Link _link;
    private bool _peerUp;
    private TimeSpan _retryDelay = FirstRetry;
    private bool _connectFailureLogged;

    // Towards the peer: encoded bytes not yet taken by the socket.
    private readonly byte[] _outgoing = new byte[SendBufferSize];
    private int _outgoingStart;
    private int _outgoingEnd;
    private readonly CanFrame[] _fromBus = new CanFrame[FramesPerCall];
    private readonly TxOutcome[] _outcomes = new TxOutcome[1];

    // From the peer: the stream being read, and frames decoded from it not yet on the bus.
    private readonly CannelloniStreamReader _reader = new();

    private CannelloniTcpBridge(CannelloniTcpSpec spec, VirtualCanBusMember member, Socket? listener, ILogger log, string threadName)
        : base(spec, new CannelloniTcpCounters(), member, log, threadName)
    {
        _listener = listener;
        BoundTo = listener is null ? null : (IPEndPoint)listener.LocalEndPoint!;
        _epoll.Add(_timer.Fd, TimerToken);
        if (listener is not null) _epoll.Add((int)listener.Handle, ListenerToken);
        // A client connects from its thread, as soon as that starts.
        else _timer.Arm(TimeSpan.Zero);
    }

    public override string Endpoint => BoundTo is { } bound
        ? $"listening on {MetricsAddress.Format(bound)} for one cannelloni TCP peer at a time"
        : $"connecting to {MetricsAddress.Format(_spec.Endpoint)}";
    /// <summary>Where a server listens (the port the kernel chose when the spec gave 0); null for a client.</summary>
    public IPEndPoint? BoundTo { get; }
    /// <summary>Connected, and the peer's handshake was right.</summary>
    public override bool PeerUp => Volatile.Read(ref _peerUp);

    /// <summary>Binds a server's socket, joins the bus and starts the thread (a client connects from
    /// there). Throws <see cref="SocketException"/> when the address cannot be bound.</summary>
    public static CannelloniTcpBridge Start(CannelloniTcpSpec spec, ILogger log, string threadName)
    {
        Socket? listener = spec.IsServer ? Listen(spec.Endpoint, 4) : null;
        return JoinAndStart(spec, listener, member => new CannelloniTcpBridge(spec, member, listener, log, threadName));
    }

    public override string ToString() =>
        $"{_spec.Bus} <-> cannelloni TCP {(_spec.IsServer ? "server on " + MetricsAddress.Format(BoundTo!) : "client of " + MetricsAddress.Format(_spec.Endpoint))}: "
        + $"peer {(PeerUp ? "up" : "down")}, {Counters}";

    private protected override void HandleFarSide(ulong token, uint events)
    {
        switch (token & 0xFF)
        {
            case ListenerToken:
                AcceptAll();
                break;
            case TimerToken:
                _timer.Consume();
                TimerExpired();
                break;
            case ConnectionToken when token >> GenerationShift == _generation && _connection is not null:
                ConnectionReady(events);
                break;
        }
    }

    private protected override void Stopping() => Flush();

    private protected override void ReleaseDescriptors()
    {
        _connection?.Dispose();
        _listener?.Dispose();
        _timer.Dispose();
    }
}
