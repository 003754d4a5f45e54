using Microsoft.Extensions.Logging;
using VhostDeviceCan.Interop;
using VhostDeviceCan.VhostUser;
using VhostDeviceCan.Virtqueue;

namespace VhostDeviceCan.Backend;

/// <summary>
/// One virtqueue as vhost-user configures it: the split ring plus its kick, call and error
/// eventfds and the two independent flags of vhost-user.rst "Ring states": started/stopped
/// (a kick fd arrived / GET_VRING_BASE) and enabled/disabled (SET_VRING_ENABLE).
/// </summary>
public sealed class Vring : IDisposable
{
    private readonly ILogger _logger;
    private bool _brokenReported;

    internal Vring(int index, ushort maxSize, ILogger logger)
    {
        Index = index;
        Queue = new SplitQueue(maxSize);
        _logger = logger;
    }

    public int Index { get; }
    public SplitQueue Queue { get; }
    public EventFd? Kick { get; private set; }
    public EventFd? Call { get; private set; }
    public EventFd? Error { get; private set; }
    public bool Started { get; internal set; }

    /// <summary>The last ring addresses SET_VRING_ADDR installed successfully, to put back when a
    /// later one is refused.</summary>
    internal VringAddress? Address { get; set; }
    public bool Enabled { get; internal set; }

    /// <summary>Started, enabled and with valid addresses: the device may use buffers.</summary>
    public bool IsLive => Started && Enabled && Queue.IsReady && !Queue.IsBroken;

    /// <summary>Publishes the used entries added since the last call and signals the call eventfd
    /// if the driver asked for it (EVENT_IDX / NO_INTERRUPT). Call once per batch.</summary>
    public void PublishAndSignal()
    {
        if (Queue.PublishUsed()) Call?.Signal();
    }

    /// <summary>Signals the call eventfd whatever the suppression state says.</summary>
    public void SignalUnconditionally() => Call?.Signal();

    /// <summary>Logs a broken ring once and tells the front-end through the error eventfd.
    /// The ring then stays unused until the front-end resets it.</summary>
    public void ReportBroken()
    {
        if (_brokenReported) return;
        _brokenReported = true;
        _logger.LogError("virtqueue {Index} is broken and stays stopped until reset: {Reason}", Index, Queue.BrokenReason);
        Error?.Signal();
    }

    /// <summary>
    /// The front-end stopped this ring (GET_VRING_BASE) while it was broken: the next start sets it up
    /// from scratch (SET_VRING_NUM, BASE, ADDR), so forget the broken state and the addresses. The
    /// negotiated ring features stay, since a restart need not repeat SET_FEATURES.
    /// </summary>
    internal void RecoverIfBroken()
    {
        if (!Queue.IsBroken) return;
        bool eventIdx = Queue.EventIdx, indirect = Queue.IndirectDescriptors;
        Queue.Reset();
        Address = null;
        Queue.EventIdx = eventIdx;
        Queue.IndirectDescriptors = indirect;
        _brokenReported = false;
    }

    internal void SetKick(EventFd? kick) { Kick?.Dispose(); Kick = kick; }
    internal void SetCall(EventFd? call) { Call?.Dispose(); Call = call; }
    internal void SetError(EventFd? error) { Error?.Dispose(); Error = error; }

    /// <summary>Back to the state of a fresh connection: stopped, disabled, no fds, no addresses.</summary>
    internal void Reset()
    {
        SetError(null);
        ResetDevice();
    }

    /// <summary>
    /// Virtio reset on a live connection (RESET_DEVICE, SET_STATUS 0): as <see cref="Reset"/>, but the
    /// error eventfd stays. QEMU sends SET_VRING_ERR only while connecting (docs/spec/vhost-user.md §10.1 step 7),
    /// never again at start, so a ring that dropped it could not report being broken for the rest
    /// of the connection.
    /// </summary>
    internal void ResetDevice()
    {
        SetKick(null);
        SetCall(null);
        Started = false;
        Enabled = false;
        _brokenReported = false;
        Address = null;
        Queue.Reset();
    }

    public void Dispose() => Reset();
}
