namespace VhostDeviceCan.Interop;

/// <summary>A non-blocking eventfd: a counter the kernel can wake an epoll on.</summary>
public sealed class EventFd : IDisposable
{
    public EventFd(uint initialValue = 0, bool semaphore = false)
        : this(FileDescriptor.Check(
            Libc.eventfd(initialValue, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK | (semaphore ? Libc.EFD_SEMAPHORE : 0)),
            "eventfd"))
    {
    }

    /// <summary>Wraps an eventfd received from a peer (vhost-user kick / call / err).</summary>
    public EventFd(FileDescriptor descriptor) => Descriptor = descriptor;

    public FileDescriptor Descriptor { get; }
    public int Fd => Descriptor.Value;

    /// <summary>Adds one to the counter. Returns false if the write failed (e.g. the counter is full).</summary>
    // SAFETY: write reads the 8-byte local it is given and nothing else.
    public unsafe bool Signal(ulong value = 1)
    {
        nint written = Libc.write(Fd, &value, sizeof(ulong));
        return written == sizeof(ulong);
    }

    /// <summary>
    /// <see cref="Signal"/> from a thread that does not own the eventfd and may race with its
    /// disposal: the reference keeps the fd number from being closed (and reused by an unrelated
    /// open) during the write; once closed, the write is simply skipped.
    /// </summary>
    public void SignalUnlessDisposed()
    {
        bool referenced = false;
        try
        {
            Descriptor.DangerousAddRef(ref referenced);
            Signal();
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            if (referenced) Descriptor.DangerousRelease();
        }
    }

    /// <summary>Reads and clears the counter; 0 when nothing was pending (EAGAIN).</summary>
    // SAFETY: read fills the 8-byte local it is given and nothing else.
    public unsafe ulong Consume()
    {
        ulong value = 0;
        nint read = Libc.read(Fd, &value, sizeof(ulong));
        return read == sizeof(ulong) ? value : 0;
    }

    public void Dispose() => Descriptor.Dispose();
}
