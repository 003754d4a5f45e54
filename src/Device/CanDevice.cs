using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Backend;
using VhostDeviceCan.Can;
using VhostDeviceCan.Interop;
using VhostDeviceCan.VhostUser;
using VhostDeviceCan.VirtioCanWire;

namespace VhostDeviceCan.Device;

/// <summary>
/// The virtio-can device (virtio id 36): Txq 0, Rxq 1, Controlq 2, a 2-byte status in config
/// space, and the controller state machine of docs/spec/virtio-can.md §7. It talks to the bus only through
/// an <see cref="ICanTransport"/>, so it never knows whether that is SocketCAN or the virtual bus.
/// All calls come from the device's one event-loop thread.
/// </summary>
public sealed partial class CanDevice : IVhostUserDevice, IDisposable
{
    private const ulong TransportReadToken = DeviceEventLoop.FirstDeviceToken;
    private const ulong TransportWriteToken = DeviceEventLoop.FirstDeviceToken + 1;
    private const ulong ResignalTimerToken = DeviceEventLoop.FirstDeviceToken + 2;
    private const ulong RateTimerToken = DeviceEventLoop.FirstDeviceToken + 3;

    private readonly ICanTransport _transport;
    private readonly CanDeviceOptions _options;
    private readonly TimerFd _resignalTimer = new();
    private readonly TimerFd _rateTimer = new();
    private IDeviceContext? _context;
    private ILogger _logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    private ulong _negotiated;
    private bool _started;
    private ushort _status;
    private CanBusState _lastBusState;
    // Read once: trace level is fixed for the daemon's life, and the hot path then costs one branch.
    private bool _traceFrames;

    public CanDevice(ICanTransport transport, CanDeviceOptions? options = null)
    {
        _transport = transport;
        _options = options ?? new CanDeviceOptions();
        _txPending = new TxCompletionQueue(_options.MaxQueueSize);
        _rxBacklog = new RxBacklog(_options.RxBacklogFrames, VirtioCan.HeaderLength + VirtioCan.MaxFdPayload);
        _lastBusState = transport.BusState;
        if (_options.TxRate is { } rate) _txLimiter = new TxRateLimiter(rate);
        _txFilter = _options.TxFilter;
        _rxFilter = _options.RxFilter;
    }

    public CanDeviceCounters Counters { get; } = new();
    public bool IsStarted => _started;
    public ushort Status => _status;
    public ICanTransport Transport => _transport;

    public int QueueCount => VirtioCan.QueueCount;
    public ushort MaxQueueSize => _options.MaxQueueSize;

    public ulong Features
    {
        get
        {
            ulong features = VirtioFeatures.Bit(VirtioFeatures.VIRTIO_F_VERSION_1)
                | VirtioFeatures.Bit(VirtioFeatures.VIRTIO_RING_F_INDIRECT_DESC)
                | VirtioFeatures.Bit(VirtioFeatures.VIRTIO_RING_F_EVENT_IDX)
                | VirtioFeatures.Bit(VirtioCan.VIRTIO_CAN_F_CAN_CLASSIC);
            // No interface-name rules: FD is offered exactly when the transport carries it.
            if (_options.OfferFd && _transport.SupportsFd) features |= VirtioFeatures.Bit(VirtioCan.VIRTIO_CAN_F_CAN_FD);
            if (_options.OfferRtr) features |= VirtioFeatures.Bit(VirtioCan.VIRTIO_CAN_F_RTR_FRAMES);
            if (_options.OfferLateTxAck && _transport.Confirmation != TxConfirmation.None)
                features |= VirtioFeatures.Bit(VirtioCan.VIRTIO_CAN_F_LATE_TX_ACK);
            return features;
        }
    }

    private bool LateTxAck => VirtioFeatures.Has(_negotiated, VirtioCan.VIRTIO_CAN_F_LATE_TX_ACK);

    public void Attach(IDeviceContext context)
    {
        _context = context;
        _logger = context.Logger;
        _traceFrames = _logger.IsEnabled(LogLevel.Trace);
        context.RegisterFd(_transport.PollFd, TransportReadToken, Libc.EPOLLIN);
        _transport.SetReadinessHandler(this);
        context.RegisterFd(_resignalTimer.Fd, ResignalTimerToken, Libc.EPOLLIN);
        context.RegisterFd(_rateTimer.Fd, RateTimerToken, Libc.EPOLLIN);
        string confirmation = _transport.Confirmation switch
        {
            TxConfirmation.Deferred => "LATE_TX_ACK completes when the bus confirms a frame",
            TxConfirmation.AtTransmit => "LATE_TX_ACK completes when a frame is published",
            _ => "LATE_TX_ACK not offered",
        };
        _logger.LogInformation("CAN device on {Transport}: {Fd}; {Confirmation}",
            _transport.Name, _transport.SupportsFd ? "CAN FD" : "classic CAN only (interface MTU 16)", confirmation);
    }

    public void FeaturesAcked(ulong features)
    {
        _negotiated = features;
        _logger.LogInformation("virtio-can features negotiated: {Features}", DescribeFeatures(features));
    }

    public static string DescribeFeatures(ulong features)
    {
        var names = new List<string>();
        if (VirtioFeatures.Has(features, VirtioCan.VIRTIO_CAN_F_CAN_CLASSIC)) names.Add("CAN_CLASSIC");
        if (VirtioFeatures.Has(features, VirtioCan.VIRTIO_CAN_F_CAN_FD)) names.Add("CAN_FD");
        if (VirtioFeatures.Has(features, VirtioCan.VIRTIO_CAN_F_RTR_FRAMES)) names.Add("RTR_FRAMES");
        if (VirtioFeatures.Has(features, VirtioCan.VIRTIO_CAN_F_LATE_TX_ACK)) names.Add("LATE_TX_ACK");
        if (VirtioFeatures.Has(features, VirtioFeatures.VIRTIO_RING_F_INDIRECT_DESC)) names.Add("INDIRECT_DESC");
        if (VirtioFeatures.Has(features, VirtioFeatures.VIRTIO_RING_F_EVENT_IDX)) names.Add("EVENT_IDX");
        if (VirtioFeatures.Has(features, VirtioFeatures.VIRTIO_F_VERSION_1)) names.Add("VERSION_1");
        return names.Count == 0 ? "none" : string.Join(' ', names);
    }

    /// <summary>Config space is the le16 status and nothing else; everything past it reads zero
    /// (never daemon memory, unlike the reference, docs/spec/virtio-can.md §10.13).</summary>
    public void ReadConfig(uint offset, Span<byte> destination)
    {
        destination.Clear();
        Span<byte> config = stackalloc byte[VirtioCan.ConfigLength];
        BinaryPrimitives.WriteUInt16LittleEndian(config, _status);
        if (offset < config.Length)
            config[(int)offset..][..Math.Min(destination.Length, config.Length - (int)offset)].CopyTo(destination);
    }

    /// <summary>The status field is read-only for the driver (docs/spec/virtio-can.md §3).</summary>
    public bool WriteConfig(uint offset, ReadOnlySpan<byte> data) => false;

    public void QueueStarted(int index)
    {
        NoteQueueStarted(index);
        QueueKicked(index);
    }

    public void QueueKicked(int index)
    {
        switch (index)
        {
            case VirtioCan.TxQueue: ProcessTx(); break;
            case VirtioCan.RxQueue: DeliverRx(); break;
            case VirtioCan.ControlQueue: ProcessControl(); break;
        }
    }

    public void QueueStopping(int index)
    {
        if (index != VirtioCan.TxQueue) return;
        // docs/spec/vhost-user.md §6: the front-end resumes from the index we report, so every popped
        // request must be used now; those not confirmed on the bus did not make it.
        FailPendingTx();
        CompleteResolvedTx();
        StopWatchingWritable();
    }

    public void HandleEvent(ulong token, uint events)
    {
        switch (token)
        {
            case TransportReadToken:
                ReceiveFromTransport();
                break;
            case LocalReadToken:
                ReceivePosted();
                break;
            case TxSignalToken:
                SignalDueTxCompletions();
                break;
            case TransportWriteToken:
                RetryHeldTx();
                break;
            case RateTimerToken:
                _rateTimer.Consume();
                ProcessTx();
                break;
            case ResignalTimerToken:
                _resignalTimer.Consume();
                if (_started && _context is { IsActive: true } context)
                {
                    context.Queue(VirtioCan.TxQueue).SignalUnconditionally();
                    context.Queue(VirtioCan.RxQueue).SignalUnconditionally();
                }
                break;
        }
    }

    /// <summary>Virtio reset: STOPPED, status 0, nothing stale kept (docs/spec/virtio-can.md §7). Queues are already stopped,
    /// so nothing is written to guest memory here.</summary>
    public void Reset()
    {
        // A device that stopped watching its transport (a full backlog) has not seen its latest drops.
        NoteTransportDrops();
        if (_started || _txPending.Count > 0 || _rxBacklog.Count > 0)
            _logger.LogInformation("controller reset: {Counters}", Counters);
        _started = false;
        _status = 0;
        _negotiated = 0;
        // Outcomes still to come for this driver's frames find no request and are ignored.
        _txPending.Clear();
        DiscardRxBacklog();
        ResumeReceive();
        _resignalTimer.Disarm();
        StopWatchingWritable();
        _txFilterReported = false;
        _txLimiter?.Reset();
        _rateTimer.Disarm();
    }

    /// <summary>Reacts to the transport's bus state after each transmit or receive: entering
    /// bus-off (or losing the interface) stops the controller as docs/spec/virtio-can.md §7 describes.</summary>
    private void CheckBusState()
    {
        CanBusState state = _transport.BusState;
        if (state == _lastBusState) return;
        CanBusState previous = _lastBusState;
        _lastBusState = state;
        if (state == CanBusState.Active)
        {
            _logger.LogInformation("{Transport}: bus is active again (was {Previous})", _transport.Name, previous);
            return;
        }
        _logger.LogWarning("{Transport}: {State}", _transport.Name, state == CanBusState.BusOff ? "controller is bus-off" : "interface is down");
        if (!_started) return;
        EnterBusOff();
    }

    private void EnterBusOff()
    {
        Counters.BusOffEvents++;
        // docs/spec/virtio-can.md §7: set BUSOFF, leave STARTED, fail pending TX, then tell the driver.
        _status |= VirtioCan.VIRTIO_CAN_S_CTRL_BUSOFF;
        _started = false;
        DiscardRxBacklog();
        ResumeReceive();
        FailPendingTx();
        CompleteResolvedTx();
        StopWatchingWritable();
        // As for STOP: requests queued behind held frames are answered too, and Txq kicks resume.
        ProcessTx();
        if (_context?.NotifyConfigChanged() == true)
            _logger.LogInformation("bus-off reported to the guest (config change)");
    }

    public void Dispose()
    {
        _transport.SetReadinessHandler(null);
        _resignalTimer.Dispose();
        _rateTimer.Dispose();
    }
}
