using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Virtqueue.Tests;

/// <summary>The policy for received guest memory: sealed or sealable is protected, the rest refused
/// unless explicitly allowed. Real memfds and tmpfs files.</summary>
public sealed class GuestMemorySealsTests
{
    private const long Size = 0x4000;

    [Fact]
    public void Memory_sealed_by_the_front_end_is_accepted_and_its_seals_left_unchanged()
    {
        using var fd = MemFd.Create("qemu-like", Size);
        Assert.True(GuestMemorySeals.TryProtect(fd, allowUnprotected: false, out var protection, out string? reason));
        Assert.Equal(ShrinkProtection.SealedByFrontEnd, protection);
        Assert.Null(reason);
        Assert.Equal(0, MemFd.GetSeals(fd, out FileSeals seals));
        Assert.Equal(MemFd.VmmSeals, seals);
    }

    [Fact]
    public void Memory_sealed_against_shrinking_only_is_accepted_as_is()
    {
        using var fd = MemFd.Create("shrink-only", Size, allowSealing: true, FileSeals.Shrink);
        Assert.True(GuestMemorySeals.TryProtect(fd, allowUnprotected: false, out var protection, out _));
        Assert.Equal(ShrinkProtection.SealedByFrontEnd, protection);
        Assert.Equal(0, MemFd.GetSeals(fd, out FileSeals seals));
        Assert.Equal(FileSeals.Shrink, seals);
    }

    [Fact]
    public void Sealable_memory_gets_sealed_so_a_later_shrink_fails_with_eperm_and_the_mapping_stays_backed()
    {
        using var fd = MemFd.Create("sealable", Size, allowSealing: true, FileSeals.None);
        Assert.True(GuestMemorySeals.TryProtect(fd, allowUnprotected: false, out var protection, out _));
        Assert.Equal(ShrinkProtection.SealedOnReceipt, protection);
        using var memory = new GuestMemory([GuestMemoryRegion.Map(fd, 0, (ulong)Size, 0, 0)]);

        // What a hostile front-end does with its own fd of the same file.
        Assert.Equal(-1, Libc.ftruncate(fd.Value, 0));
        Assert.Equal(Errno.EPERM, Errno.Last);

        // The last page is still there to touch (without the seal this write would raise SIGBUS).
        Assert.True(memory.TryWrite((ulong)Size - 4, [1, 2, 3, 4]));
        var back = new byte[4];
        Assert.True(memory.TryRead((ulong)Size - 4, back));
        Assert.Equal([1, 2, 3, 4], back);
    }

    [Fact]
    public void Unsealable_memfd_is_refused_with_the_reason()
    {
        using var fd = MemFd.Create("seal-off", Size, allowSealing: false, FileSeals.None);
        Assert.False(GuestMemorySeals.TryProtect(fd, allowUnprotected: false, out var protection, out string? reason));
        Assert.Equal(ShrinkProtection.Unprotected, protection);
        Assert.Contains("MFD_ALLOW_SEALING", reason, StringComparison.Ordinal);
        Assert.Contains("SIGBUS", reason, StringComparison.Ordinal);
        // Refusing changed nothing: the file can still be resized by its owner.
        Assert.Equal(0, Libc.ftruncate(fd.Value, Size / 2));
    }

    [Fact]
    public void Unsealable_memfd_is_accepted_unprotected_when_allowed()
    {
        using var fd = MemFd.Create("seal-off", Size, allowSealing: false, FileSeals.None);
        Assert.True(GuestMemorySeals.TryProtect(fd, allowUnprotected: true, out var protection, out string? reason));
        Assert.Equal(ShrinkProtection.Unprotected, protection);
        Assert.Contains("MFD_ALLOW_SEALING", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tmpfs_file_as_memory_backend_file_shares_it_is_refused_unless_allowed()
    {
        string path = Path.Combine("/dev/shm", $"vdc-guest-{Guid.NewGuid():N}");
        try
        {
            using (var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite))
            using (var fd = FileDescriptor.Check(Libc.dup((int)handle.DangerousGetHandle()), "dup"))
            {
                Assert.Equal(0, Libc.ftruncate(fd.Value, Size));
                Assert.False(GuestMemorySeals.TryProtect(fd, allowUnprotected: false, out _, out string? reason));
                Assert.Contains("tmpfs", reason, StringComparison.Ordinal);
                Assert.True(GuestMemorySeals.TryProtect(fd, allowUnprotected: true, out var protection, out _));
                Assert.Equal(ShrinkProtection.Unprotected, protection);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_sealable_memfd_passed_read_only_cannot_be_sealed_and_is_refused()
    {
        using var fd = MemFd.Create("sealable", Size, allowSealing: true, FileSeals.None);
        using var handle = File.OpenHandle($"/proc/self/fd/{fd.Value}", FileMode.Open, FileAccess.Read);
        using var readOnly = FileDescriptor.Check(Libc.dup((int)handle.DangerousGetHandle()), "dup");
        Assert.False(GuestMemorySeals.TryProtect(readOnly, allowUnprotected: false, out _, out string? reason));
        Assert.Contains("not open for writing", reason, StringComparison.Ordinal);
    }
}
