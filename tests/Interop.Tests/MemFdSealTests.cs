using Microsoft.Win32.SafeHandles;

namespace VhostDeviceCan.Interop.Tests;

/// <summary>File seals on real memfds and files: which fds take F_ADD_SEALS and what a seal stops.</summary>
public sealed class MemFdSealTests
{
    private static readonly long Page = MemoryMapping.PageSize;

    [Fact]
    public void A_default_memfd_is_sealed_like_qemus_memory_backend_and_cannot_shrink_or_grow()
    {
        using var fd = MemFd.Create("sealed", 2 * Page);
        Assert.Equal(0, MemFd.GetSeals(fd, out FileSeals seals));
        Assert.Equal(FileSeals.Grow | FileSeals.Shrink | FileSeals.Seal, seals);
        Assert.Equal(-1, Libc.ftruncate(fd.Value, Page));
        Assert.Equal(Errno.EPERM, Errno.Last);
        Assert.Equal(-1, Libc.ftruncate(fd.Value, 4 * Page));
        Assert.Equal(Errno.EPERM, Errno.Last);
        // Locked: not even a seal that is already there can be added again.
        Assert.Equal(Errno.EPERM, MemFd.AddSeals(fd, FileSeals.Shrink));
        Assert.True(fd.TryGetRegularFileSize(out long size));
        Assert.Equal(2 * Page, size);
    }

    [Fact]
    public void A_sealable_memfd_takes_the_shrink_seal_then_refuses_to_shrink_but_may_grow()
    {
        using var fd = MemFd.Create("sealable", 2 * Page, allowSealing: true, FileSeals.None);
        Assert.Equal(0, MemFd.GetSeals(fd, out FileSeals before));
        Assert.Equal(FileSeals.None, before);
        // Shrinking works before the seal: this is what the seal must prevent.
        Assert.Equal(0, Libc.ftruncate(fd.Value, Page));

        Assert.Equal(0, MemFd.AddSeals(fd, FileSeals.Shrink));

        Assert.Equal(0, MemFd.GetSeals(fd, out FileSeals after));
        Assert.Equal(FileSeals.Shrink, after);
        Assert.Equal(-1, Libc.ftruncate(fd.Value, Page / 2));
        Assert.Equal(Errno.EPERM, Errno.Last);
        Assert.Equal(0, Libc.ftruncate(fd.Value, 3 * Page));
    }

    [Fact]
    public void The_seal_holds_for_every_fd_of_the_file_including_one_opened_before_it()
    {
        using var fd = MemFd.Create("shared", Page, allowSealing: true, FileSeals.None);
        using var other = new FileDescriptor(Libc.dup(fd.Value));
        Assert.Equal(0, MemFd.AddSeals(fd, FileSeals.Shrink));
        Assert.Equal(-1, Libc.ftruncate(other.Value, 0));
        Assert.Equal(Errno.EPERM, Errno.Last);
    }

    [Fact]
    public void A_memfd_created_without_allow_sealing_has_its_seals_locked_empty()
    {
        using var fd = MemFd.Create("unsealable", Page, allowSealing: false, FileSeals.None);
        Assert.Equal(0, MemFd.GetSeals(fd, out FileSeals seals));
        Assert.Equal(FileSeals.Seal, seals);
        Assert.Equal(Errno.EPERM, MemFd.AddSeals(fd, FileSeals.Shrink));
        Assert.Equal(0, Libc.ftruncate(fd.Value, 0));
        Assert.Throws<ArgumentException>(() => MemFd.Create("bad", Page, allowSealing: false, FileSeals.Shrink));
    }

    [Fact]
    public void Adding_a_seal_needs_an_fd_open_for_writing()
    {
        using var fd = MemFd.Create("sealable", Page, allowSealing: true, FileSeals.None);
        using var readOnly = Reopen(fd, FileAccess.Read);
        Assert.Equal(0, MemFd.GetSeals(readOnly, out FileSeals seals));
        Assert.Equal(FileSeals.None, seals);
        Assert.Equal(Errno.EPERM, MemFd.AddSeals(readOnly, FileSeals.Shrink));
        using var writable = Reopen(fd, FileAccess.ReadWrite);
        Assert.Equal(0, MemFd.AddSeals(writable, FileSeals.Shrink));
    }

    [Fact]
    public void A_tmpfs_file_starts_locked_and_a_file_on_disk_has_no_seals()
    {
        string shm = Path.Combine("/dev/shm", $"vdc-seal-{Guid.NewGuid():N}");
        try
        {
            using var tmpfs = Open(shm);
            Assert.Equal(0, MemFd.GetSeals(tmpfs, out FileSeals seals));
            Assert.Equal(FileSeals.Seal, seals);
            Assert.Equal(Errno.EPERM, MemFd.AddSeals(tmpfs, FileSeals.Shrink));
        }
        finally
        {
            File.Delete(shm);
        }
        // The build output lives in the repository, on a disk file system.
        string disk = Path.Combine(AppContext.BaseDirectory, $"seal-{Guid.NewGuid():N}");
        try
        {
            using var onDisk = Open(disk);
            Assert.Equal(Errno.EINVAL, MemFd.GetSeals(onDisk, out _));
            Assert.Equal(Errno.EINVAL, MemFd.AddSeals(onDisk, FileSeals.Shrink));
        }
        finally
        {
            File.Delete(disk);
        }
    }

    /// <summary>The same file through a new open file description (/proc/self/fd), with other access.</summary>
    private static FileDescriptor Reopen(FileDescriptor fd, FileAccess access) => Own(File.OpenHandle($"/proc/self/fd/{fd.Value}", FileMode.Open, access));

    private static FileDescriptor Open(string path) => Own(File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite));

    private static FileDescriptor Own(SafeFileHandle handle)
    {
        using (handle) return FileDescriptor.Check(Libc.dup((int)handle.DangerousGetHandle()), "dup");
    }
}
