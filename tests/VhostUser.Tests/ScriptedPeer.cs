using VhostDeviceCan.Interop;

namespace VhostDeviceCan.VhostUser.Tests;

/// <summary>One message as the peer saw it.</summary>
public sealed record PeerMessage(MessageHeader Header, byte[] Payload, int FdCount)
{
    public FrontendRequest Request => (FrontendRequest)Header.Request;
    public ulong U64 => Payload.Length >= 8 ? BitConverter.ToUInt64(Payload) : throw new InvalidOperationException("no u64");
}

/// <summary>
/// The far end of a socket pair, driven by a script on its own thread: a stand-in back-end that
/// sends exactly the bytes a test wants, right or wrong. Every receive has a timeout, so a script
/// waiting for a message that never comes fails instead of hanging. <see cref="Join"/> rethrows
/// whatever the script threw.
/// </summary>
public sealed class ScriptedPeer : IDisposable
{
    private static readonly TimeSpan ReceiveTimeout = TimeSpan.FromSeconds(5);

    private readonly VhostUserConnection _connection;
    private readonly Epoll _epoll = new();
    private readonly byte[] _payload = new byte[MessageHeader.MaxPayload];
    private readonly Thread _thread;
    private readonly List<PeerMessage> _received = [];
    private Exception? _failure;

    public ScriptedPeer(Action<ScriptedPeer> script)
    {
        var (front, back) = UnixSocket.Pair();
        FrontendSocket = front;
        _connection = new VhostUserConnection(back);
        _epoll.Add(back.Fd, 0, Libc.EPOLLIN | Libc.EPOLLRDHUP);
        _thread = new Thread(() =>
        {
            try { script(this); }
            catch (Exception e) { _failure = e; }
        }) { IsBackground = true };
        _thread.Start();
    }

    /// <summary>Hand this to the front-end under test (it takes ownership).</summary>
    public UnixSocket FrontendSocket { get; }

    /// <summary>The fds of the last message, still open, for scripts that use them.</summary>
    public List<FileDescriptor> LastFds { get; } = [];

    /// <summary>Every message received so far; read it after <see cref="Join"/>.</summary>
    public IReadOnlyList<PeerMessage> Received
    {
        get { lock (_received) return [.. _received]; }
    }

    /// <summary>The next message, or null when the front-end closed the connection.</summary>
    public PeerMessage? TryReceive()
    {
        foreach (var fd in LastFds) fd.Dispose();
        LastFds.Clear();
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];
        if (_epoll.Wait(events, (int)ReceiveTimeout.TotalMilliseconds) == 0)
            throw new TimeoutException("the front-end sent nothing");
        using var fds = new ReceivedFds();
        if (!_connection.Receive(out var header, _payload, fds)) return null;
        var message = new PeerMessage(header, _payload[..(int)header.Size], fds.Count);
        for (int i = 0; i < fds.Count; i++) LastFds.Add(fds.Take(i));
        lock (_received) _received.Add(message);
        return message;
    }

    public PeerMessage Receive() => TryReceive() ?? throw new EndOfStreamException("the front-end closed the connection");

    public PeerMessage Expect(FrontendRequest request)
    {
        var message = Receive();
        if (message.Request != request) throw new InvalidOperationException($"expected {request}, got {message.Request}");
        return message;
    }

    public void Send(uint request, uint flags, ReadOnlySpan<byte> payload, ReadOnlySpan<int> fds = default) =>
        _connection.Send(request, flags, payload, fds);

    public void ReplyU64(FrontendRequest request, ulong value) => _connection.SendReply((uint)request, value);

    public void Reply(FrontendRequest request, ReadOnlySpan<byte> payload) => _connection.SendReply((uint)request, payload);

    /// <summary>Closes the peer's end: the front-end sees end of stream.</summary>
    public void Close() => _connection.Socket.Shutdown();

    /// <summary>Waits for the script to end and rethrows its failure.</summary>
    public void Join()
    {
        if (!_thread.Join(TimeSpan.FromSeconds(10))) throw new TimeoutException("the peer script did not finish");
        if (_failure is not null) throw new InvalidOperationException("peer script failed", _failure);
    }

    /// <summary>
    /// A well-behaved back-end for the typed requests: answers every GET_* with a value, acks
    /// every NEED_REPLY with <paramref name="ack"/>, until the front-end closes.
    /// </summary>
    public static Action<ScriptedPeer> Backend(ulong features = 0x1_4000_0000UL,
        ProtocolFeatures protocol = ProtocolFeatures.MQ | ProtocolFeatures.REPLY_ACK | ProtocolFeatures.BACKEND_REQ
            | ProtocolFeatures.CONFIG | ProtocolFeatures.RESET_DEVICE,
        ulong ack = 0) => peer =>
    {
        while (peer.TryReceive() is { } message)
        {
            switch (message.Request)
            {
                case FrontendRequest.GET_FEATURES: peer.ReplyU64(message.Request, features); break;
                case FrontendRequest.GET_PROTOCOL_FEATURES: peer.ReplyU64(message.Request, (ulong)protocol); break;
                case FrontendRequest.GET_QUEUE_NUM: peer.ReplyU64(message.Request, 3); break;
                case FrontendRequest.GET_MAX_MEM_SLOTS: peer.ReplyU64(message.Request, 509); break;
                case FrontendRequest.GET_STATUS: peer.ReplyU64(message.Request, 0x3); break;
                case FrontendRequest.GET_VRING_BASE:
                    var state = Payload.Read<VringState>(message.Payload);
                    var reply = new byte[VringState.Length];
                    Payload.Write(reply, new VringState(state.Index, 42));
                    peer.Reply(message.Request, reply);
                    break;
                case FrontendRequest.GET_CONFIG:
                    var config = (byte[])message.Payload.Clone();
                    for (int i = ConfigHeader.Length; i < config.Length; i++) config[i] = (byte)i;
                    peer.Reply(message.Request, config);
                    break;
                default:
                    if (message.Header.NeedsReply) peer.ReplyU64(message.Request, ack);
                    break;
            }
        }
    };

    public void Dispose()
    {
        Close();
        _thread.Join(TimeSpan.FromSeconds(10));
        foreach (var fd in LastFds) fd.Dispose();
        _epoll.Dispose();
        _connection.Dispose();
    }
}
