using Microsoft.Extensions.Logging;
using VhostDeviceCan.Can;

namespace VhostDeviceCan.Device;

/// <summary>What an operator may change while a guest runs (the control socket): its ID filters,
/// its transmit rate, and frames put straight into its receive path. Loop thread only, like the
/// rest of the device (DeviceEventLoop.Invoke brings a request there).</summary>
public sealed partial class CanDevice
{
    /// <summary>Identifiers this guest may send; null allows all. Starts as CanDeviceOptions.TxFilter.</summary>
    public CanIdFilter? TxFilter
    {
        get => _txFilter;
        set
        {
            _txFilter = value;
            // A new filter earns its own first warning.
            _txFilterReported = false;
            _logger.LogInformation("TX filter now {Filter}", value?.ToString() ?? "none (any identifier)");
        }
    }

    /// <summary>Identifiers this guest receives; null passes all. Applies to frames not yet in its backlog.</summary>
    public CanIdFilter? RxFilter
    {
        get => _rxFilter;
        set
        {
            _rxFilter = value;
            _logger.LogInformation("RX filter now {Filter}", value?.ToString() ?? "none (every identifier)");
        }
    }

    /// <summary>This guest's transmit budget; null is unlimited. A new budget starts with a full burst;
    /// requests that waited for the old one are looked at again at once.</summary>
    public TxRate? TxRate
    {
        get => _txLimiter?.Rate;
        set
        {
            _txLimiter = value is null ? null : new TxRateLimiter(value);
            _rateTimer.Disarm();
            _logger.LogInformation("TX rate now {Rate}", value?.ToString() ?? "unlimited");
            ProcessTx();
        }
    }

    /// <summary>Features the driver acknowledged (0 before SET_FEATURES); any thread, may be a moment old.</summary>
    public ulong NegotiatedFeatures => Volatile.Read(ref _negotiated);

    /// <summary>
    /// Puts <paramref name="frames"/> into this guest's receive path as if its bus had carried them:
    /// the RX filter, the backlog bound and the counters apply, and a stopped controller takes
    /// nothing. Returns how many were accepted for the guest; they reach it as it posts buffers.
    /// </summary>
    public int InjectRx(ReadOnlySpan<CanFrame> frames)
    {
        int accepted = 0;
        foreach (ref readonly CanFrame frame in frames)
            if (Enqueue(in frame)) accepted++;
        DeliverRx();
        return accepted;
    }
}
