using VhostDeviceCan.Interop;
using VhostDeviceCan.VhostUser;

namespace VhostDeviceCan.Frontend;

/// <summary>
/// A simulated guest behind a simulated VMM: connects to a vhost-user back-end, negotiates as QEMU
/// does (docs/spec/vhost-user.md §10.1), owns memfd guest RAM and the driver side of every queue, starts and
/// stops the device as QEMU does when the guest writes DRIVER_OK or resets it (docs/spec/vhost-user.md §10.2, docs/spec/vhost-user.md §10.3), and
/// listens for the back-end's config-change requests.
/// </summary>
/// <remarks>
/// Typical use: <c>Connect</c>, <c>Start</c>, then per queue <c>Add</c> / <c>Kick</c> /
/// <c>WaitForUsed</c> / <c>TryTakeUsed</c>; <c>Stop</c> and <c>Start</c> again for a guest reboot;
/// <c>Dispose</c> to disconnect. <see cref="Client"/> reaches the raw protocol for anything else.
/// Not thread-safe.
/// </remarks>
public sealed partial class VirtioFrontend : IDisposable
{
    private readonly FrontendQueue[] _queues;
    // Regions the back-end currently has, when memory goes by ADD_MEM_REG (QEMU's shadow table).
    private readonly HashSet<GuestRamRegion> _regionsSent = [];
    private bool _memoryTableSent;
    private bool _disposed;

    private VirtioFrontend(VhostUserFrontend client, NegotiationResult negotiation, GuestRam ram, VirtioFrontendOptions options)
    {
        Client = client;
        Negotiation = negotiation;
        Ram = ram;
        Options = options;
        _queues = new FrontendQueue[options.QueueCount];
        for (int i = 0; i < _queues.Length; i++)
        {
            EventFd? error = i < negotiation.ErrNotifiers.Count ? negotiation.ErrNotifiers[i] : null;
            _queues[i] = new FrontendQueue(i, ram, options.QueueSize, options.BufferSize, options.MaxIndirectBuffers,
                options.PreSignalKick, error);
        }
        if (negotiation.TakeBackendChannel() is { } channel) BackendRequests = new BackendRequestListener(channel);
    }

    /// <summary>
    /// Connects to <paramref name="socketPath"/>, retrying while the socket does not exist or nobody
    /// listens yet (a back-end that is still starting), up to <see cref="VirtioFrontendOptions.ConnectTimeout"/>;
    /// runs QEMU's connect sequence (docs/spec/vhost-user.md §10.1) and lays out guest RAM and the queues.
    /// </summary>
    /// <exception cref="SyscallException">The socket could not be reached in time.</exception>
    /// <exception cref="VhostUserException">The handshake failed.</exception>
    public static VirtioFrontend Connect(string socketPath, VirtioFrontendOptions? options = null)
    {
        options ??= new VirtioFrontendOptions();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.QueueCount);
        UnixSocket socket = ConnectWithRetry(socketPath, options.ConnectTimeout);
        var client = new VhostUserFrontend(socket) { ReplyTimeout = options.ReplyTimeout, AckEverything = options.AckEverything };
        NegotiationResult? negotiation = null;
        GuestRam? ram = null;
        try
        {
            negotiation = client.NegotiateLikeQemu(options.Features, options.ProtocolFeatures, options.QueueCount);
            ram = GuestRam.Create(options.MemorySize, options.SplitMemory, options.HighMemoryGpa);
            return new VirtioFrontend(client, negotiation, ram, options);
        }
        catch
        {
            ram?.Dispose();
            negotiation?.Dispose();
            client.Dispose();
            throw;
        }
    }

    /// <summary>The typed vhost-user client, for requests this class does not wrap.</summary>
    public VhostUserFrontend Client { get; }

    /// <summary>What the connect sequence negotiated; owns the masked call and the error eventfds.</summary>
    public NegotiationResult Negotiation { get; }

    public VirtioFrontendOptions Options { get; }

    /// <summary>Guest RAM shared with the back-end.</summary>
    public GuestRam Ram { get; }

    /// <summary>Back-end requests (config changes), when BACKEND_REQ was negotiated.</summary>
    public BackendRequestListener? BackendRequests { get; }

    /// <summary>Virtio features the guest acked (without bit 30).</summary>
    public ulong AckedFeatures => Negotiation.AckedFeatures;

    public ProtocolFeatures AckedProtocolFeatures => Negotiation.AckedProtocolFeatures;

    public bool Has(ProtocolFeatures feature) => (Negotiation.AckedProtocolFeatures & feature) == feature;

    /// <summary>True between <see cref="Start"/> and <see cref="Stop"/>.</summary>
    public bool IsRunning { get; private set; }

    public IReadOnlyList<FrontendQueue> Queues => _queues;

    public FrontendQueue Queue(int index) => _queues[index];

    /// <summary>Publishes and kicks queue <paramref name="index"/> if the device wants a kick.</summary>
    public bool Kick(int index) => _queues[index].Kick();

    /// <summary>Blocks on queue <paramref name="index"/>'s call eventfd until a used chain is ready.</summary>
    public bool WaitForUsed(int index, TimeSpan timeout) => _queues[index].WaitForUsed(timeout);

    /// <summary>GET_CONFIG of <paramref name="size"/> bytes at <paramref name="offset"/>.</summary>
    public byte[] GetConfig(uint offset, uint size) => Client.GetConfig(offset, size);

    /// <summary>SET_CONFIG (a driver write).</summary>
    public void SetConfig(uint offset, ReadOnlySpan<byte> data) => Client.SetConfig(offset, data);

    /// <summary>
    /// RESET_DEVICE (protocol feature RESET_DEVICE): the back-end stops every ring and resets the
    /// device but keeps ownership, protocol features and memory. <see cref="Start"/> again afterwards.
    /// </summary>
    public void ResetDevice()
    {
        Client.ResetDevice();
        IsRunning = false;
    }

    /// <summary>Closes the connection, the back-end channel and every eventfd, and unmaps guest RAM.</summary>
    public void Disconnect() => Dispose();

    public void Dispose()
    {
        // Disposing twice must not close fd numbers the process may already have reused.
        if (_disposed) return;
        _disposed = true;
        IsRunning = false;
        BackendRequests?.Dispose();
        Client.Dispose();
        foreach (var queue in _queues) queue?.Dispose();
        Negotiation.Dispose();
        Ram.Dispose();
    }

    private static UnixSocket ConnectWithRetry(string path, TimeSpan timeout)
    {
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (true)
        {
            try
            {
                return UnixSocket.Connect(path);
            }
            catch (SyscallException e) when ((e.ErrorNumber == Errno.ENOENT || e.ErrorNumber == Errno.ECONNREFUSED)
                && Environment.TickCount64 < deadline)
            {
                // Nothing to wait on for a path that does not exist yet (QEMU's reconnect-ms is a
                // timer too), so back off briefly and try again.
                Thread.Sleep(10);
            }
        }
    }
}
