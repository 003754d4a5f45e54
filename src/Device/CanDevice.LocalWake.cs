using VhostDeviceCan.Backend;
using VhostDeviceCan.Can;

namespace VhostDeviceCan.Device;

/// <summary>
/// Wake-ups from the device's own thread: on a virtual bus served by one event-loop thread, a
/// neighbour's transmission makes this device's member readable on the thread that reads it, and
/// the member posts that here instead of writing its eventfd (<see cref="IReadinessHandler"/>).
/// </summary>
public sealed partial class CanDevice : IReadinessHandler
{
    /// <summary>Never registered with epoll: the loop runs it after the current event when asked.</summary>
    private const ulong LocalReadToken = DeviceEventLoop.FirstDeviceToken + 4;

    private ILocalWake? _localWake;

    bool IReadinessHandler.OnHandlerThread => _context?.IsLoopThread == true;

    void IReadinessHandler.Post(ILocalWake source)
    {
        _localWake = source;
        _context!.RunAfterThisEvent(LocalReadToken);
    }

    /// <summary>The transport's read handler, as for its fd; a wake-up it did not take (receiving
    /// paused while the backlog is full) goes to the transport's eventfd, which epoll reports once
    /// the fd is watched again.</summary>
    private void ReceivePosted()
    {
        ILocalWake? wake = _localWake;
        _localWake = null;
        try
        {
            if (!_rxPaused) ReceiveFromTransport();
        }
        finally
        {
            wake?.Settle();
        }
    }
}
