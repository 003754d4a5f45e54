namespace VhostDeviceCan.Interop;

/// <summary>
/// The file descriptors that arrived with one message. A handler takes the ones it uses
/// (each at most once); <see cref="Dispose"/> closes every fd nobody took, on every path.
/// One instance is reused per connection, so receiving allocates nothing.
/// </summary>
public sealed class ReceivedFds : IDisposable
{
    /// <summary>Room for more fds than any peer may send, so a surplus is seen rather than truncated.</summary>
    public const int Capacity = 32;

    private readonly int[] _fds = new int[Capacity];

    public int Count { get; private set; }

    internal void Add(int fd)
    {
        if (Count < Capacity) _fds[Count++] = fd;
        else Libc.close(fd);
    }

    /// <summary>Takes ownership of fd <paramref name="index"/>; the caller must dispose it.</summary>
    public FileDescriptor Take(int index)
    {
        if ((uint)index >= (uint)Count || _fds[index] < 0)
            throw new InvalidOperationException($"no file descriptor {index} in this message");
        int fd = _fds[index];
        _fds[index] = -1;
        return new FileDescriptor(fd);
    }

    /// <summary>Closes every fd that was not taken and empties the collection.</summary>
    public void Dispose()
    {
        for (int i = 0; i < Count; i++)
        {
            if (_fds[i] >= 0) Libc.close(_fds[i]);
            _fds[i] = -1;
        }
        Count = 0;
    }
}
