using System.Buffers.Binary;
using VhostDeviceCan.Can;
using VhostDeviceCan.Frontend;
using VhostDeviceCan.VirtioCanWire;
using VhostDeviceCan.Virtqueue;
using VhostDeviceCan.VhostUser;

namespace VhostDeviceCan.Guest;

/// <summary>
/// A guest with a virtio-can driver, in-process: the VMM side of vhost-user (memfd RAM, rings,
/// eventfds) plus what Linux's virtio_can driver does on the three queues. Lets a user or a test
/// move frames through a daemon with no VM, no patched kernel and no patched QEMU.
/// Not thread-safe; no allocation per frame.
/// </summary>
public sealed class VirtioCanGuest : IDisposable
{
    /// <summary>Every queue buffer slot: a TX request (up to 80 bytes) with its result byte at
    /// <see cref="TxResultOffset"/>, or one RX buffer.</summary>
    private const int SlotSize = 128;
    private const int TxResultOffset = 96;

    private readonly VirtioFrontend _frontend;
    private readonly FrontendQueue _tx;
    private readonly FrontendQueue _rx;
    private readonly FrontendQueue _control;
    private readonly ulong[] _txSlot;
    private readonly ulong[] _rxSlot;
    private readonly int _rxBufferLength;
    private readonly bool _indirect;
    private int _txInFlight;

    private VirtioCanGuest(VirtioFrontend frontend, VirtioCanGuestOptions options)
    {
        _frontend = frontend;
        _tx = frontend.Queue(VirtioCan.TxQueue);
        _rx = frontend.Queue(VirtioCan.RxQueue);
        _control = frontend.Queue(VirtioCan.ControlQueue);
        _txSlot = new ulong[_tx.Size];
        _rxSlot = new ulong[_rx.Size];
        Negotiated = frontend.AckedFeatures;
        _indirect = VirtioFeatures.Has(Negotiated, VirtioFeatures.VIRTIO_RING_F_INDIRECT_DESC);
        _rxBufferLength = VirtioCan.RxBufferLength(Negotiated);
        if (options.PostRxBuffers) PostRxBuffers();
    }

    /// <summary>Features the driver acked, virtio-can and transport bits.</summary>
    public ulong Negotiated { get; }

    public VirtioFrontend Frontend => _frontend;
    public long TxOk { get; private set; }
    public long TxNotOk { get; private set; }
    public long RxFrames { get; private set; }
    public long RxDropped { get; private set; }
    public string? LastRxDropReason { get; private set; }
    public int TxInFlight => _txInFlight;

    public bool Has(int canFeature) => VirtioFeatures.Has(Negotiated, canFeature);

    /// <summary>Connects, negotiates and starts the queues as QEMU does at DRIVER_OK; the
    /// controller stays STOPPED until <see cref="Start"/>.</summary>
    public static VirtioCanGuest Connect(string socketPath, VirtioCanGuestOptions? options = null)
    {
        options ??= new VirtioCanGuestOptions();
        ulong features = VirtioFeatures.Bit(VirtioFeatures.VIRTIO_F_VERSION_1) | options.CanFeatures
            | (options.EventIdx ? VirtioFeatures.Bit(VirtioFeatures.VIRTIO_RING_F_EVENT_IDX) : 0)
            | (options.IndirectDescriptors ? VirtioFeatures.Bit(VirtioFeatures.VIRTIO_RING_F_INDIRECT_DESC) : 0);
        var frontend = VirtioFrontend.Connect(socketPath, new VirtioFrontendOptions
        {
            Features = features,
            QueueCount = VirtioCan.QueueCount,
            QueueSize = options.QueueSize,
            BufferSize = SlotSize,
            ConnectTimeout = options.ConnectTimeout,
            MemorySealing = options.MemorySealing,
        });
        try
        {
            frontend.Start();
            return new VirtioCanGuest(frontend, options);
        }
        catch
        {
            frontend.Dispose();
            throw;
        }
    }

    /// <summary>One buffer per free Rxq descriptor, then one kick (the Linux driver at probe).</summary>
    private void PostRxBuffers()
    {
        while (_rx.Buffers.TryRent(out ulong gpa))
        {
            if (!_rx.TryAdd([new DriverBuffer(gpa, (uint)_rxBufferLength, Writable: true)], indirect: false, out ushort head))
            {
                _rx.Buffers.Return(gpa);
                break;
            }
            _rxSlot[head] = gpa;
        }
        _rx.Kick();
    }

    /// <summary>SET_CTRL_MODE_START; true when the device answered OK.</summary>
    public bool Start(TimeSpan? timeout = null) => Control(VirtioCan.VIRTIO_CAN_SET_CTRL_MODE_START, timeout) == VirtioCan.VIRTIO_CAN_RESULT_OK;

    /// <summary>SET_CTRL_MODE_STOP; true when the device answered OK.</summary>
    public bool Stop(TimeSpan? timeout = null) => Control(VirtioCan.VIRTIO_CAN_SET_CTRL_MODE_STOP, timeout) == VirtioCan.VIRTIO_CAN_RESULT_OK;

    /// <summary>Sends one control request (any msg_type, for tests) and waits for its result byte;
    /// -1 when the device used the buffer without writing a result.</summary>
    public int Control(ushort messageType, TimeSpan? timeout = null)
    {
        ulong gpa = _control.Buffers.Rent();
        try
        {
            BinaryPrimitives.WriteUInt16LittleEndian(_frontend.Ram.GetSpan(gpa, 2), messageType);
            _frontend.Ram.GetSpan(gpa + TxResultOffset, 1)[0] = 0xEE;
            _control.Add([new DriverBuffer(gpa, 2, false), new DriverBuffer(gpa + TxResultOffset, 1, true)]);
            _control.Kick();
            DateTime deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(5));
            while (true)
            {
                if (_control.TryTakeUsed(out _, out uint length))
                    return length >= 1 ? _frontend.Ram.GetSpan(gpa + TxResultOffset, 1)[0] : -1;
                TimeSpan left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || !_control.WaitForUsed(left))
                    throw new TimeoutException($"no answer to control request 0x{messageType:x4}");
            }
        }
        finally
        {
            _control.Buffers.Return(gpa);
        }
    }

    /// <summary>Queues a frame on Txq without kicking (call <see cref="Flush"/>); false when the
    /// ring is full (collect completions first).</summary>
    public bool TrySend(in CanFrame frame)
    {
        if (!_tx.Buffers.TryRent(out ulong gpa)) return false;
        Span<byte> request = _frontend.Ram.GetSpan(gpa, SlotSize);
        int length = DriverCodec.EncodeTx(frame, request);
        request[TxResultOffset] = 0xEE;
        ReadOnlySpan<DriverBuffer> chain = [new DriverBuffer(gpa, (uint)length, false), new DriverBuffer(gpa + TxResultOffset, 1, true)];
        // Like Linux: one indirect descriptor per request when negotiated, a direct chain otherwise.
        if (!(_indirect && _tx.TryAdd(chain, indirect: true, out ushort head)) && !_tx.TryAdd(chain, indirect: false, out head))
        {
            _tx.Buffers.Return(gpa);
            return false;
        }
        _txSlot[head] = gpa;
        _txInFlight++;
        return true;
    }

    /// <summary>Queues raw request bytes (a hostile or malformed request) with a result byte.</summary>
    public bool TrySendRaw(ReadOnlySpan<byte> request, bool withResult = true)
    {
        if (request.Length > TxResultOffset || !_tx.Buffers.TryRent(out ulong gpa)) return false;
        request.CopyTo(_frontend.Ram.GetSpan(gpa, request.Length));
        _frontend.Ram.GetSpan(gpa + TxResultOffset, 1)[0] = 0xEE;
        ReadOnlySpan<DriverBuffer> chain = withResult
            ? [new DriverBuffer(gpa, (uint)request.Length, false), new DriverBuffer(gpa + TxResultOffset, 1, true)]
            : [new DriverBuffer(gpa, (uint)request.Length, false)];
        if (!_tx.TryAdd(chain, indirect: false, out ushort head))
        {
            _tx.Buffers.Return(gpa);
            return false;
        }
        _txSlot[head] = gpa;
        _txInFlight++;
        return true;
    }

    /// <summary>Publishes queued TX requests and kicks if the device asked for it.</summary>
    public void Flush() => _tx.Kick();

    /// <summary>Takes completed TX requests; each result goes to <see cref="TxOk"/> or <see cref="TxNotOk"/>.
    /// Results are also written to <paramref name="results"/> in completion order when given.</summary>
    public int CollectTxCompletions(Span<byte> results = default)
    {
        int count = 0;
        while (_tx.TryTakeUsed(out ushort head, out uint length))
        {
            ulong gpa = _txSlot[head];
            byte result = length >= 1 ? _frontend.Ram.GetSpan(gpa + TxResultOffset, 1)[0] : VirtioCan.VIRTIO_CAN_RESULT_NOT_OK;
            if (result == VirtioCan.VIRTIO_CAN_RESULT_OK) TxOk++;
            else TxNotOk++;
            if (count < results.Length) results[count] = result;
            _tx.Buffers.Return(gpa);
            _txInFlight--;
            count++;
        }
        return count;
    }

    /// <summary>Sends one frame and waits for its completion; returns the result byte.</summary>
    public byte SendAndWait(in CanFrame frame, TimeSpan? timeout = null)
    {
        if (!TrySend(frame)) throw new InvalidOperationException("Txq is full");
        Flush();
        return WaitForTxResult(timeout);
    }

    /// <summary>Sends raw request bytes and waits for the completion's result (-1: no result byte written).</summary>
    public int SendRawAndWait(ReadOnlySpan<byte> request, bool withResult = true, TimeSpan? timeout = null)
    {
        if (!TrySendRaw(request, withResult)) throw new InvalidOperationException("Txq is full");
        Flush();
        return WaitForTxResult(timeout);
    }

    private byte WaitForTxResult(TimeSpan? timeout)
    {
        Span<byte> result = stackalloc byte[1];
        DateTime deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(5));
        while (CollectTxCompletions(result) == 0)
        {
            TimeSpan left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !_tx.WaitForUsed(left)) throw new TimeoutException("no TX completion");
        }
        return result[0];
    }

    /// <summary>Blocks until Txq has completions or <paramref name="timeout"/> passes.</summary>
    public bool WaitForTx(TimeSpan timeout) => _tx.WaitForUsed(timeout);

    /// <summary>Blocks until Rxq has used buffers or <paramref name="timeout"/> passes.</summary>
    public bool WaitForRx(TimeSpan timeout) => _rx.WaitForUsed(timeout);

    /// <summary>Takes received frames (up to frames.Length), re-posts their buffers and kicks once.
    /// Messages the Linux driver would drop are counted in <see cref="RxDropped"/>.</summary>
    public int Receive(Span<CanFrame> frames)
    {
        int count = 0;
        bool reposted = false;
        while (count < frames.Length && _rx.TryTakeUsed(out ushort head, out uint length))
        {
            ulong gpa = _rxSlot[head];
            CanFrame? frame = DriverCodec.DecodeRx(_frontend.Ram.GetSpan(gpa, (int)Math.Min(length, (uint)SlotSize)), Negotiated, out string? reason);
            if (frame is { } received)
            {
                frames[count++] = received;
                RxFrames++;
            }
            else
            {
                RxDropped++;
                LastRxDropReason = reason;
            }
            _rx.Add([new DriverBuffer(gpa, (uint)_rxBufferLength, true)]);
            _rxSlot[head] = gpa;
            reposted = true;
        }
        if (reposted) _rx.Kick();
        return count;
    }

    /// <summary>Waits up to <paramref name="timeout"/> for at least one frame.</summary>
    public int Receive(Span<CanFrame> frames, TimeSpan timeout)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            int count = Receive(frames);
            if (count > 0) return count;
            TimeSpan left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !_rx.WaitForUsed(left)) return Receive(frames);
        }
    }

    /// <summary>The device's status field (config offset 0), read as QEMU does with config_size 16.</summary>
    public ushort ReadStatus() => BinaryPrimitives.ReadUInt16LittleEndian(_frontend.GetConfig(0, 16));

    /// <summary>Waits for a config-change notification from the device (bus-off).</summary>
    public bool WaitForConfigChange(TimeSpan timeout) =>
        _frontend.BackendRequests?.WaitForConfigChange(timeout) ?? false;

    public int ConfigChangeCount => _frontend.BackendRequests?.ConfigChangeCount ?? 0;

    public void Dispose() => _frontend.Dispose();
}
