namespace VhostDeviceCan.Can.Cannelloni;

/// <summary>
/// The receiving half of a cannelloni TCP connection (docs/spec/cannelloni.md §5 and docs/spec/cannelloni.md §6): the peer's
/// handshake, then frames back to back, cut anywhere by the stream. The caller receives into
/// <see cref="FreeSpace"/>, reports the count with <see cref="Commit"/> and takes frames with
/// <see cref="Next"/> until it says more bytes are needed. A partial frame is kept across reads.
/// </summary>
public sealed class CannelloniStreamReader
{
    /// <summary>Room for many frames per read; a partial frame left at the end is moved to the front.</summary>
    public const int DefaultCapacity = 16 * 1024;

    private readonly byte[] _buffer;
    private int _start;
    private int _end;
    private int _handshakeMatched;

    public CannelloniStreamReader(int capacity = DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, CannelloniFormat.MaxFrameSize);
        _buffer = new byte[capacity];
    }

    /// <summary>The peer's 12 bytes have all come and were right.</summary>
    public bool HandshakeDone => _handshakeMatched == CannelloniFormat.TcpHandshake.Length;

    /// <summary>Bytes received and not yet taken (at most a partial frame once <see cref="Next"/> asked for more).</summary>
    public int Buffered => _end - _start;

    /// <summary>Where the next read goes; never empty: a partial frame is at most 69 bytes.</summary>
    public Span<byte> FreeSpace
    {
        get
        {
            if (_end == _buffer.Length || _start == _end)
            {
                _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
                _end -= _start;
                _start = 0;
            }
            return _buffer.AsSpan(_end);
        }
    }

    public void Commit(int received)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)received, (uint)(_buffer.Length - _end), nameof(received));
        _end += received;
    }

    /// <summary>For a new connection: nothing buffered, handshake awaited again.</summary>
    public void Reset()
    {
        _start = _end = 0;
        _handshakeMatched = 0;
    }

    /// <summary>
    /// The next frame: <see cref="CannelloniError.None"/> with <paramref name="frame"/> set;
    /// <see cref="CannelloniError.Truncated"/> when the bytes so far end inside the handshake or a
    /// frame (read more); <see cref="CannelloniError.WrongHandshake"/> at the first byte that
    /// differs from the handshake; <see cref="CannelloniError.BadLength"/> for an impossible
    /// length. The last two are final: nothing after them can be framed, the connection must go.
    /// </summary>
    public CannelloniError Next(out CanFrame frame)
    {
        frame = default;
        ReadOnlySpan<byte> handshake = CannelloniFormat.TcpHandshake;
        while (_handshakeMatched < handshake.Length)
        {
            if (_start == _end) return CannelloniError.Truncated;
            if (_buffer[_start] != handshake[_handshakeMatched]) return CannelloniError.WrongHandshake;
            _start++;
            _handshakeMatched++;
        }
        int offset = 0;
        var error = CannelloniFormat.ReadFrame(_buffer.AsSpan(_start, _end - _start), ref offset, out frame);
        _start += offset;
        return error;
    }
}
