using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Virtqueue;

/// <summary>How a guest memory file is kept from shrinking under this process's mapping.</summary>
public enum ShrinkProtection
{
    /// <summary>The front-end sealed it (QEMU's <c>memory-backend-memfd</c> does by default).</summary>
    SealedByFrontEnd,
    /// <summary>It accepted seals and this process added <see cref="FileSeals.Shrink"/> on receipt.</summary>
    SealedOnReceipt,
    /// <summary>Nothing keeps it from shrinking; accepted only because the caller allowed it.</summary>
    Unprotected,
}

/// <summary>
/// The guard against a front-end that shrinks the memory it shared. Touching a page of a shared
/// mapping beyond the end of its file raises SIGBUS, which kills the whole process and with it every
/// other guest's device; a signal cannot be refused the way a bad request can. A file sealed with
/// F_SEAL_SHRINK cannot get smaller through any fd, so once the seal is in place and the size is
/// checked, every mapped byte stays backed. Apply this before checking the file's size: a size
/// checked earlier could shrink between the check and the seal.
/// </summary>
public static class GuestMemorySeals
{
    /// <summary>
    /// Makes sure the file behind <paramref name="fd"/> can no longer shrink: fine if already sealed,
    /// sealed now if it accepts seals. Otherwise returns false with the reason, unless
    /// <paramref name="allowUnprotected"/> accepts it as <see cref="ShrinkProtection.Unprotected"/>
    /// (then <paramref name="reason"/> still says why it is unprotected).
    /// </summary>
    public static bool TryProtect(FileDescriptor fd, bool allowUnprotected, out ShrinkProtection protection, out string? reason)
    {
        ArgumentNullException.ThrowIfNull(fd);
        reason = null;
        protection = ShrinkProtection.Unprotected;
        int errno = MemFd.GetSeals(fd, out FileSeals seals);
        if (errno == 0 && (seals & FileSeals.Shrink) != 0)
        {
            protection = ShrinkProtection.SealedByFrontEnd;
            return true;
        }
        if (errno == 0 && (seals & FileSeals.Seal) == 0)
        {
            errno = MemFd.AddSeals(fd, FileSeals.Shrink);
            if (errno == 0)
            {
                protection = ShrinkProtection.SealedOnReceipt;
                return true;
            }
            reason = errno == Errno.EPERM
                ? "its memfd accepts seals but the fd is not open for writing, so F_SEAL_SHRINK cannot be added"
                : Errno.Format("fcntl(F_ADD_SEALS, F_SEAL_SHRINK)", errno);
        }
        else if (errno == 0)
        {
            reason = $"its seals are locked without F_SEAL_SHRINK (seals {seals}): a memfd created without MFD_ALLOW_SEALING "
                + "(QEMU memory-backend-memfd with seal=off) or a tmpfs or hugetlbfs file";
        }
        else
        {
            reason = errno == Errno.EINVAL
                ? "its file system has no file seals (a file on disk, not a memfd)"
                : Errno.Format("fcntl(F_GET_SEALS)", errno);
        }
        reason += "; the front-end could shrink it under the mapping, and the next access would kill the whole process with SIGBUS";
        return allowUnprotected;
    }
}
