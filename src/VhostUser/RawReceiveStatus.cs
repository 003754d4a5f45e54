namespace VhostDeviceCan.VhostUser;

/// <summary>What <see cref="VhostUserFrontend.TryReceiveRaw"/> found.</summary>
public enum RawReceiveStatus
{
    /// <summary>A whole message arrived.</summary>
    Message,
    /// <summary>The peer closed the connection cleanly between messages.</summary>
    Closed,
    /// <summary>Nothing arrived within the timeout.</summary>
    TimedOut,
}
