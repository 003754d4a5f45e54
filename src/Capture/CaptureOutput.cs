using System.Buffers;
using System.Globalization;

namespace VhostDeviceCan.Capture;

/// <summary>
/// The writer thread's side of a <see cref="CaptureDestination"/>: a buffer in front of the file
/// or stream that counts the bytes of the current file, and the rotation of files by size.
/// </summary>
internal sealed class CaptureOutput : IBufferWriter<byte>, IDisposable
{
    private const int BufferSize = 64 * 1024;

    private readonly CaptureDestination _destination;
    private readonly byte[] _buffer = new byte[BufferSize];
    private Stream _stream;
    private int _buffered;
    private long _fileLength;

    /// <summary>Opens the file (creating or truncating it) or takes the stream; a file that cannot
    /// be written is an <see cref="IOException"/> naming it.</summary>
    public CaptureOutput(CaptureDestination destination)
    {
        _destination = destination;
        _stream = destination.Stream ?? OpenFile(destination.Path!);
    }

    /// <summary>Bytes of the current file, buffered ones included.</summary>
    public long FileLength => _fileLength;

    /// <summary>Files begun so far, the first included.</summary>
    public int Files { get; private set; } = 1;

    /// <summary>True when <paramref name="bytes"/> more would take the current file past its max-size.</summary>
    public bool WouldExceed(int bytes) => _destination.MaxSize > 0 && _fileLength + bytes > _destination.MaxSize;

    public void Advance(int count)
    {
        _buffered += count;
        _fileLength += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0) => _buffer.AsMemory(Reserve(sizeHint));

    public Span<byte> GetSpan(int sizeHint = 0) => _buffer.AsSpan(Reserve(sizeHint));

    private int Reserve(int sizeHint)
    {
        if (sizeHint > BufferSize) throw new ArgumentOutOfRangeException(nameof(sizeHint), "a block larger than the capture buffer");
        if (BufferSize - _buffered < Math.Max(sizeHint, 1)) WriteBuffered();
        return _buffered;
    }

    /// <summary>Hands everything buffered to the file or stream and flushes it there.</summary>
    public void Flush()
    {
        WriteBuffered();
        _stream.Flush();
    }

    private void WriteBuffered()
    {
        if (_buffered == 0) return;
        _stream.Write(_buffer, 0, _buffered);
        _buffered = 0;
    }

    /// <summary>Closes the current file as <c>FILE.1</c>, older ones moving up, and begins a new <c>FILE</c>.</summary>
    public void Rotate()
    {
        string path = _destination.Path!;
        Flush();
        _stream.Dispose();
        try
        {
            int keep = _destination.Keep;
            if (keep == 0)
            {
                File.Delete(path);
            }
            else
            {
                File.Delete(Numbered(path, keep));
                for (int i = keep - 1; i >= 1; i--)
                    if (File.Exists(Numbered(path, i))) File.Move(Numbered(path, i), Numbered(path, i + 1));
                File.Move(path, Numbered(path, 1));
            }
        }
        catch (UnauthorizedAccessException e)
        {
            throw new IOException($"cannot rotate capture file '{path}': {e.Message}", e);
        }
        _stream = OpenFile(path);
        _fileLength = 0;
        Files++;
    }

    private static string Numbered(string path, int index) => path + "." + index.ToString(CultureInfo.InvariantCulture);

    internal static FileStream OpenFile(string path)
    {
        try
        {
            // Unbuffered: the writer buffers; others may read the file while it grows.
            return new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read | FileShare.Delete, bufferSize: 0);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException or NotSupportedException)
        {
            throw new IOException($"cannot write capture file '{path}': {e.Message}", e);
        }
    }

    public void Dispose()
    {
        try
        {
            Flush();
        }
        finally
        {
            if (_destination.Stream is null || !_destination.LeaveOpen) _stream.Dispose();
        }
    }
}
