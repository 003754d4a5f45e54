namespace VhostDeviceCan.Interop;

/// <summary>Anonymous shared memory (memfd_create), as a VMM uses for guest RAM.</summary>
public static class MemFd
{
    public static FileDescriptor Create(string name, long size)
    {
        var fd = FileDescriptor.Check(Libc.memfd_create(name, Libc.MFD_CLOEXEC), "memfd_create");
        if (Libc.ftruncate(fd.Value, size) < 0)
        {
            var error = SyscallException.FromLast("ftruncate");
            fd.Dispose();
            throw error;
        }
        return fd;
    }
}
