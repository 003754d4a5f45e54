using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Control;

/// <summary>
/// A control connection turned into a one-way byte stream (<c>capture ... -w -</c>), as the
/// producer's thread writes it. Bytes written before <see cref="Open"/> wait in memory, so that the
/// reply line goes first; after it, writes go straight to the socket, waiting for a slow reader in
/// short slices so that <see cref="Abort"/> ends them. Once the reader is gone (it closed the
/// connection, or <see cref="Abort"/> was called) writes are discarded: the producer winds down
/// normally and nobody reads what it would have said.
/// </summary>
public sealed class ControlStream : Stream
{
    /// <summary>How long one send waits for room before checking for an abort.</summary>
    private static readonly TimeSpan SendSlice = TimeSpan.FromMilliseconds(100);

    private readonly UnixSocket _socket;
    private readonly Lock _lock = new();
    private byte[] _held = [];
    private int _heldCount;
    private bool _open;
    private volatile bool _readerGone;
    private long _sent;

    internal ControlStream(UnixSocket socket) => _socket = socket;

    /// <summary>The reader closed the connection or the stream was aborted; writes are discarded.</summary>
    public bool ReaderGone => _readerGone;

    /// <summary>Bytes the socket took so far.</summary>
    public long Sent => Interlocked.Read(ref _sent);

    /// <summary>Control thread, after the reply: <paramref name="first"/> (the replies not yet sent)
    /// goes out first, then what was held, then every write. The socket becomes blocking with a short
    /// send timeout; the control thread reads it only with MSG_DONTWAIT and writes to it no more.</summary>
    internal void Open(ReadOnlySpan<byte> first)
    {
        lock (_lock)
        {
            var all = new byte[first.Length + _heldCount];
            first.CopyTo(all);
            _held.AsSpan(0, _heldCount).CopyTo(all.AsSpan(first.Length));
            _held = all;
            _heldCount = all.Length;
            _socket.SetSendTimeout(SendSlice);
            _socket.Descriptor.SetNonBlocking(false);
            _open = true;
        }
    }

    /// <summary>Any thread: the reader is gone, or must be let go of; a write waiting for room ends
    /// within <see cref="SendSlice"/> and later ones are discarded.</summary>
    public void Abort() => _readerGone = true;

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        lock (_lock)
        {
            if (_readerGone) return;
            if (!_open || _heldCount > 0)
            {
                Hold(buffer);
                if (_open) SendHeld();
                return;
            }
            SendAll(buffer);
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    /// <summary>Sends what is held (the reply line first): the producer flushes when it catches up,
    /// so the reply goes out even while nothing is captured.</summary>
    public override void Flush()
    {
        lock (_lock)
            if (_open && _heldCount > 0 && !_readerGone) SendHeld();
    }

    private void Hold(ReadOnlySpan<byte> bytes)
    {
        if (_heldCount + bytes.Length > _held.Length) Array.Resize(ref _held, Math.Max(_heldCount + bytes.Length, 2 * _held.Length));
        bytes.CopyTo(_held.AsSpan(_heldCount));
        _heldCount += bytes.Length;
    }

    private void SendHeld()
    {
        SendAll(_held.AsSpan(0, _heldCount));
        _heldCount = 0;
        _held = [];
    }

    private void SendAll(ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty && !_readerGone)
        {
            int sent;
            try
            {
                sent = _socket.SendWaiting(bytes);
            }
            catch (SyscallException e) when (e.ErrorNumber is Errno.EPIPE or Errno.ECONNRESET)
            {
                _readerGone = true;
                return;
            }
            catch (SyscallException e)
            {
                throw new IOException(e.Message, e);
            }
            bytes = bytes[sent..];
            Interlocked.Add(ref _sent, sent);
        }
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
