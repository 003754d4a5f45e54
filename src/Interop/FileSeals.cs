namespace VhostDeviceCan.Interop;

/// <summary>
/// The seals of a shmem file (linux/fcntl.h F_SEAL_*): each one makes a kind of change fail with
/// EPERM, for every fd of the file, for good. Only a memfd created with MFD_ALLOW_SEALING starts
/// without <see cref="Seal"/>; other tmpfs and hugetlbfs files start with it, and files elsewhere
/// do not support seals at all (F_GET_SEALS fails with EINVAL).
/// </summary>
[Flags]
public enum FileSeals
{
    None = 0,
    /// <summary>The set of seals itself can no longer change.</summary>
    Seal = 0x1,
    /// <summary>The file can no longer get smaller.</summary>
    Shrink = 0x2,
    /// <summary>The file can no longer get larger.</summary>
    Grow = 0x4,
    /// <summary>No more writes, and no new shared writable mapping.</summary>
    Write = 0x8,
    /// <summary>No new writes through write(2) or new mappings; existing mappings still write.</summary>
    FutureWrite = 0x10,
}
