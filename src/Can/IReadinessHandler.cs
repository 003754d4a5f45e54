namespace VhostDeviceCan.Can;

/// <summary>
/// Whoever handles a transport's readiness (a device on its event loop), as a transport may tell
/// it directly when the wake-up comes from that very thread: on a virtual bus whose members share
/// one event-loop thread, one guest's transmission makes another member readable on the thread
/// that will read it. Going through the member's eventfd would then cost a write, a read and two
/// epoll rounds on one thread for nothing; instead the handler runs the transport's read handler
/// once the current event is done.
/// </summary>
public interface IReadinessHandler
{
    /// <summary>True on the thread that handles the transport's readiness, now.</summary>
    bool OnHandlerThread { get; }

    /// <summary>Handler thread only: runs the transport's read handler after the current event,
    /// then <see cref="ILocalWake.Settle"/> of <paramref name="source"/>, even when the read handler
    /// did not read (its receiving paused).</summary>
    void Post(ILocalWake source);
}

/// <summary>A transport's wake-up that was posted to its handler instead of its eventfd.</summary>
public interface ILocalWake
{
    /// <summary>Handler thread, after the read handler ran: a wake-up it did not take (nothing was
    /// read since it was posted) goes to the eventfd after all, so the transport's fd reports it
    /// once it is watched again. Nothing otherwise.</summary>
    void Settle();
}
