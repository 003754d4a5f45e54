namespace VhostDeviceCan.Interop;

/// <summary>Anonymous shared memory (memfd_create), as a VMM uses for guest RAM, and its seals.</summary>
public static class MemFd
{
    /// <summary>
    /// What QEMU's <c>memory-backend-memfd</c> applies by default (its <c>seal=on</c>): the size is
    /// fixed and the seals are locked, so no process holding the fd can shrink the memory under
    /// another one's mapping.
    /// </summary>
    public const FileSeals VmmSeals = FileSeals.Grow | FileSeals.Shrink | FileSeals.Seal;

    /// <summary>A memfd of <paramref name="size"/> bytes sealed with <see cref="VmmSeals"/>.</summary>
    public static FileDescriptor Create(string name, long size) => Create(name, size, allowSealing: true, VmmSeals);

    /// <summary>
    /// A memfd of <paramref name="size"/> bytes. Without <paramref name="allowSealing"/> its seals are
    /// locked empty (the kernel sets <see cref="FileSeals.Seal"/>), like QEMU's <c>seal=off</c>;
    /// with it, <paramref name="seals"/> are added once the size is set.
    /// </summary>
    public static FileDescriptor Create(string name, long size, bool allowSealing, FileSeals seals)
    {
        if (!allowSealing && seals != FileSeals.None)
            throw new ArgumentException("A memfd created without MFD_ALLOW_SEALING takes no seals.", nameof(seals));
        uint flags = Libc.MFD_CLOEXEC | (allowSealing ? Libc.MFD_ALLOW_SEALING : 0);
        var fd = FileDescriptor.Check(Libc.memfd_create(name, flags), "memfd_create");
        string? failed = Libc.ftruncate(fd.Value, size) < 0 ? "ftruncate"
            : seals != FileSeals.None && Libc.fcntl(fd.Value, Libc.F_ADD_SEALS, (int)seals) < 0 ? "fcntl(F_ADD_SEALS)"
            : null;
        if (failed is not null)
        {
            var error = SyscallException.FromLast(failed);
            fd.Dispose();
            throw error;
        }
        return fd;
    }

    /// <summary>
    /// The seals of the file behind <paramref name="fd"/>. Returns 0, or the errno: EINVAL when the
    /// file system has no seals (anything but tmpfs and hugetlbfs).
    /// </summary>
    public static int GetSeals(FileDescriptor fd, out FileSeals seals)
    {
        ArgumentNullException.ThrowIfNull(fd);
        int value = Libc.fcntl(fd.Value, Libc.F_GET_SEALS, 0);
        seals = value < 0 ? FileSeals.None : (FileSeals)value;
        return value < 0 ? Errno.Last : 0;
    }

    /// <summary>
    /// Adds <paramref name="seals"/> to the file behind <paramref name="fd"/>. Returns 0, or the
    /// errno: EPERM when the seals are locked (<see cref="FileSeals.Seal"/>) or the fd is not open for
    /// writing, EINVAL when the file system has no seals, EBUSY for a write seal over a writable mapping.
    /// </summary>
    public static int AddSeals(FileDescriptor fd, FileSeals seals)
    {
        ArgumentNullException.ThrowIfNull(fd);
        return Libc.fcntl(fd.Value, Libc.F_ADD_SEALS, (int)seals) < 0 ? Errno.Last : 0;
    }
}
