using System.Runtime.InteropServices;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Interop.Tests;

public unsafe class SharedMemoryTests
{
    [Fact]
    public void Two_mappings_of_one_memfd_see_each_others_writes()
    {
        using var fd = MemFd.Create("test", 2 * MemoryMapping.PageSize);
        using var first = MemoryMapping.Map(fd, (ulong)(2 * MemoryMapping.PageSize), 0);
        using var second = MemoryMapping.Map(fd, (ulong)MemoryMapping.PageSize, (ulong)MemoryMapping.PageSize);

        new Span<byte>((void*)first.Address, 2 * (int)MemoryMapping.PageSize)[(int)MemoryMapping.PageSize + 3] = 0xAB;

        Assert.Equal(0xAB, new Span<byte>((void*)second.Address, (int)MemoryMapping.PageSize)[3]);
    }

    [Fact]
    public void Unaligned_offset_is_refused_with_einval()
    {
        using var fd = MemFd.Create("test", MemoryMapping.PageSize * 2);
        var error = Assert.Throws<SyscallException>(() => MemoryMapping.Map(fd, 4096, 100));
        Assert.Equal(Errno.EINVAL, error.ErrorNumber);
    }

    [Fact]
    public void Dispose_unmaps_once()
    {
        using var fd = MemFd.Create("test", MemoryMapping.PageSize);
        var mapping = MemoryMapping.Map(fd, (ulong)MemoryMapping.PageSize, 0);
        mapping.Dispose();
        mapping.Dispose();
        Assert.Throws<ObjectDisposedException>(() => mapping.Address);
    }
}
