namespace VhostDeviceCan.Interop;

/// <summary>A shared read/write mapping of a file descriptor, unmapped on dispose.</summary>
public sealed class MemoryMapping : IDisposable
{
    private nint _address;

    private MemoryMapping(nint address, ulong length)
    {
        _address = address;
        Length = length;
    }

    public static readonly long PageSize = Libc.sysconf(Libc._SC_PAGESIZE);

    /// <summary>Maps <paramref name="length"/> bytes of <paramref name="fd"/> from <paramref name="offset"/>.</summary>
    /// <exception cref="SyscallException">mmap refused (bad fd, offset not page-aligned, no memory).</exception>
    public static MemoryMapping Map(FileDescriptor fd, ulong length, ulong offset)
    {
        if (length == 0 || length > nuint.MaxValue || offset > long.MaxValue)
            throw new SyscallException("mmap", Errno.EINVAL);
        nint address = Libc.mmap(0, (nuint)length, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd.Value, (long)offset);
        if (address == Libc.MAP_FAILED) throw SyscallException.FromLast("mmap");
        return new MemoryMapping(address, length);
    }

    public nint Address => _address != 0 ? _address : throw new ObjectDisposedException(nameof(MemoryMapping));
    public ulong Length { get; }

    public void Dispose()
    {
        nint address = Interlocked.Exchange(ref _address, 0);
        if (address != 0) Libc.munmap(address, (nuint)Length);
    }
}
