using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Control;

/// <summary>
/// One client of the control socket, server side: its non-blocking socket, the bytes of a request
/// line not yet complete (at most <see cref="ControlProtocol.MaxLineBytes"/>), and replies not yet
/// taken by the client (at most <see cref="ControlServerLimits.MaxPendingReplyBytes"/>).
/// </summary>
internal sealed class ControlConnection(UnixSocket socket, PeerIdentity? peer, int slot) : IControlChannel, IDisposable
{
    private readonly byte[] _input = new byte[ControlProtocol.MaxLineBytes];
    private int _inputCount;
    private byte[] _output = [];
    private int _outputStart;
    private int _outputEnd;

    public UnixSocket Socket { get; } = socket;
    public PeerIdentity? Peer { get; } = peer;
    public int Slot { get; } = slot;
    public string Who => ControlCommands.Who(Peer);

    /// <summary>No more requests are read; the connection closes once its replies are sent.</summary>
    public bool Closing { get; set; }

    /// <summary>Refused (hostile input): no further line of it is answered.</summary>
    public bool Refused { get; set; }

    /// <summary>When the client last sent a whole request (or connected), for the idle bound.</summary>
    public long LastRequest { get; set; }

    public int PendingOutput => _outputEnd - _outputStart;

    /// <summary>Fds received with the bytes of the request line not yet complete (one recvmsg's worth).</summary>
    public ReceivedFds Fds { get; } = new();

    /// <summary>The next complete line is the one <see cref="Fds"/> came with.</summary>
    public bool FdsForNextLine { get; set; }

    /// <summary>Bytes of a line received and not yet complete.</summary>
    public bool HasPartialLine => _inputCount > 0;

    /// <summary>A reply to come (a replay the client waits for), with its request's id; nothing
    /// more is read from the client meanwhile.</summary>
    public IDeferredReply? Deferred { get; set; }
    public long? DeferredId { get; set; }

    /// <summary>Set by a command during its request: the stream to switch to once its reply is queued.</summary>
    public ControlStreaming? StreamRequested { get; private set; }

    /// <summary>The stream this connection carries; no requests are read any more.</summary>
    public ControlStreaming? Streaming { get; private set; }

    public ControlStream CreateStream() => new(Socket);

    public void StreamAfterReply(ControlStream stream, Func<bool> isRunning, Action end)
    {
        if (StreamRequested is not null || Streaming is not null) throw new InvalidOperationException("the connection carries a stream already");
        StreamRequested = new ControlStreaming(stream, isRunning, end);
    }

    /// <summary>Switches to the requested stream: replies not yet sent (the last one being the
    /// request's own) go out first, from the stream's side.</summary>
    public void BeginStreaming()
    {
        ControlStreaming streaming = StreamRequested!;
        StreamRequested = null;
        streaming.Stream.Open(_output.AsSpan(_outputStart, _outputEnd - _outputStart));
        _output = [];
        _outputStart = _outputEnd = 0;
        Streaming = streaming;
    }

    /// <summary>Once: lets go of the reader and ends the producer (control thread).</summary>
    public void EndStreaming()
    {
        if (Streaming is not { } streaming) return;
        Streaming = null;
        streaming.Stream.Abort();
        streaming.End();
    }

    /// <summary>Where received bytes go; empty when a line already fills the buffer.</summary>
    public Span<byte> FreeInput => _input.AsSpan(_inputCount);

    public void Received(int count) => _inputCount += count;

    /// <summary>The next complete line (without its newline and a carriage return before it), or false.</summary>
    public bool TryTakeLine(out ReadOnlyMemory<byte> line)
    {
        int newline = _input.AsSpan(0, _inputCount).IndexOf((byte)'\n');
        if (newline < 0)
        {
            line = default;
            return false;
        }
        int end = newline > 0 && _input[newline - 1] == '\r' ? newline - 1 : newline;
        // Copied: the buffer moves on while the request is parsed from it.
        line = _input.AsSpan(0, end).ToArray();
        _input.AsSpan(newline + 1, _inputCount - newline - 1).CopyTo(_input);
        _inputCount -= newline + 1;
        return true;
    }

    /// <summary>A partial line fills the whole buffer: it can never end within the bound.</summary>
    public bool LineTooLong => _inputCount == _input.Length;

    public void Queue(ReadOnlySpan<byte> reply)
    {
        if (_outputEnd + reply.Length > _output.Length)
        {
            int pending = PendingOutput;
            var grown = new byte[Math.Max(pending + reply.Length, 2 * _output.Length)];
            _output.AsSpan(_outputStart, pending).CopyTo(grown);
            _output = grown;
            _outputStart = 0;
            _outputEnd = pending;
        }
        reply.CopyTo(_output.AsSpan(_outputEnd));
        _outputEnd += reply.Length;
    }

    /// <summary>Sends what the socket takes now; true when nothing is left.</summary>
    public bool Flush()
    {
        while (_outputStart < _outputEnd)
        {
            int sent = Socket.SendAvailable(_output.AsSpan(_outputStart, _outputEnd - _outputStart));
            if (sent == 0) return false;
            _outputStart += sent;
        }
        _outputStart = _outputEnd = 0;
        // A client that once took a large reply does not keep its buffer forever.
        if (_output.Length > 64 * 1024) _output = [];
        return true;
    }

    public void Dispose()
    {
        Fds.Dispose();
        Socket.Dispose();
    }
}
