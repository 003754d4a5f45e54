namespace VhostDeviceCan.Backend.Tests;

/// <summary>What a malformed-message case needs before it sends its message.</summary>
public enum Setup
{
    /// <summary>Right after the connect sequence.</summary>
    Connected,
    /// <summary>Started and stopped once: memory mapped, rings configured but stopped.</summary>
    Stopped,
    /// <summary>Rings running.</summary>
    Running,
    NoConfig,
    NoStatus,
    NoMemSlots,
    NoResetDevice,
    NoBackendReq,
    NoMq,
}
