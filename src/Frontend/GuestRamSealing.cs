namespace VhostDeviceCan.Frontend;

/// <summary>How the simulated VMM creates the memfds of guest RAM, as QEMU's backends do.</summary>
public enum GuestRamSealing
{
    /// <summary>Size fixed and seals locked (F_SEAL_GROW, F_SEAL_SHRINK, F_SEAL_SEAL): QEMU's
    /// <c>memory-backend-memfd</c> default.</summary>
    Sealed,
    /// <summary>Created with MFD_ALLOW_SEALING but no seal yet: the back-end can seal it itself.</summary>
    Sealable,
    /// <summary>Created without MFD_ALLOW_SEALING, so nobody can ever seal it: QEMU's
    /// <c>memory-backend-memfd,seal=off</c>, and as unprotected as a <c>memory-backend-file</c>.</summary>
    Unsealable,
}
