using VhostDeviceCan.Interop;

namespace VhostDeviceCan.VhostUser;

/// <summary>
/// The front-end's side of the back-end request channel, as QEMU's backend_read (slave_read)
/// handles it: reads requests on its own thread, answers every NEED_REPLY with a u64
/// (0 = handled), answers unknown requests with 1, closes any fds that came along, and stops
/// reading at the first framing error. Tests count requests or wait for the next config change.
/// Owns the socket.
/// </summary>
public sealed class BackendRequestListener : IDisposable
{
    private readonly VhostUserConnection _connection;
    private readonly EventFd _stop = new();
    private readonly ReadableWaiter _waiter;
    private readonly SemaphoreSlim _configChanges = new(0);
    private readonly Thread _thread;
    private int _configChangeCount;
    private int _unknownCount;

    public BackendRequestListener(UnixSocket socket)
    {
        _connection = new VhostUserConnection(socket);
        _waiter = new ReadableWaiter(socket.Fd, _stop.Fd);
        _thread = new Thread(Run) { IsBackground = true, Name = "vhost-user backend requests" };
        _thread.Start();
    }

    /// <summary>
    /// The u64 sent back for CONFIG_CHANGE_MSG with NEED_REPLY. 0 by default; set non-zero to act
    /// like QEMU with a device model without config space.
    /// </summary>
    public ulong ConfigChangeAnswer { get; set; }

    /// <summary>Raised on the listener thread for every request, after it was answered.</summary>
    public event Action<MessageHeader>? RequestReceived;

    public int ConfigChangeCount => Volatile.Read(ref _configChangeCount);

    /// <summary>Requests other than CONFIG_CHANGE_MSG (all unsupported here, as in QEMU without those features).</summary>
    public int UnknownRequestCount => Volatile.Read(ref _unknownCount);

    /// <summary>The header of the last request read.</summary>
    public MessageHeader? LastRequest { get; private set; }

    /// <summary>Why the listener stopped reading, if it stopped on an error.</summary>
    public Exception? Fault { get; private set; }

    /// <summary>True once the listener stopped: peer closed, framing error or disposal.</summary>
    public bool IsStopped => !_thread.IsAlive;

    /// <summary>
    /// Waits for the next CONFIG_CHANGE_MSG not yet waited for. Each message is counted once,
    /// so one that arrived before this call is not missed.
    /// </summary>
    public bool WaitForConfigChange(TimeSpan timeout) => _configChanges.Wait(timeout);

    private void Run()
    {
        Span<byte> payload = new byte[MessageHeader.MaxPayload];
        using var fds = new ReceivedFds();
        try
        {
            // Without a timeout, Wait returns false only when Dispose fired the stop eventfd.
            while (_waiter.Wait(Timeout.InfiniteTimeSpan))
            {
                if (!_connection.Receive(out var header, payload, fds)) return;
                fds.Dispose();
                LastRequest = header;
                bool known = header.Request == (uint)BackendRequest.CONFIG_CHANGE_MSG;
                // Count before answering: whoever sees the ack may read the counters at once.
                if (known) Interlocked.Increment(ref _configChangeCount);
                else Interlocked.Increment(ref _unknownCount);
                if (header.NeedsReply)
                    _connection.SendReply(header.Request, known ? ConfigChangeAnswer : 1UL);
                if (known) _configChanges.Release();
                RequestReceived?.Invoke(header);
            }
        }
        catch (Exception e)
        {
            // QEMU closes the channel on a read error; the back-end sees EPIPE on its next send.
            Fault = e;
            _connection.Socket.Shutdown();
        }
    }

    public void Dispose()
    {
        _stop.Signal();
        _thread.Join();
        _waiter.Dispose();
        _stop.Dispose();
        _connection.Dispose();
        _configChanges.Dispose();
    }
}
