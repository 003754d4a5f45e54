using VhostDeviceCan.Interop;
using VhostDeviceCan.VhostUser;
using VhostDeviceCan.Virtqueue;

namespace VhostDeviceCan.Frontend;

/// <summary>
/// One virtqueue as the guest driver and the VMM see it: the driver-side ring in guest RAM, its
/// indirect tables and data buffers, the kick eventfd the driver writes and the call eventfd the
/// back-end signals. The per-buffer path (<see cref="TryAdd"/>, <see cref="Kick"/>,
/// <see cref="TryTakeUsed"/>, <see cref="WaitForUsed"/>) allocates nothing. Not thread-safe: one
/// thread drives a queue.
/// </summary>
public sealed class FrontendQueue : IDisposable
{
    private readonly GuestRam _ram;
    private readonly ulong _indirectGpa, _indirectSize;
    // Waits on the call eventfd only, so a pending error signal cannot turn a wait into a spin.
    private readonly Epoll _callWaiter = new();
    private DriverQueue? _driver;

    internal FrontendQueue(int index, GuestRam ram, ushort size, int bufferSize, int maxIndirectBuffers, bool preSignalKick, EventFd? error)
    {
        Index = index;
        Size = size;
        _ram = ram;
        DescriptorGpa = ram.Allocate(RingLayout.DescriptorTableSize(size), RingLayout.DescriptorTableAlignment);
        AvailableGpa = ram.Allocate(RingLayout.AvailableRingSize(size), RingLayout.AvailableRingAlignment);
        UsedGpa = ram.Allocate(RingLayout.UsedRingSize(size), RingLayout.UsedRingAlignment);
        _indirectSize = (ulong)size * (ulong)Math.Max(maxIndirectBuffers, 0) * Descriptor.Size;
        _indirectGpa = _indirectSize == 0 ? 0 : ram.Allocate(_indirectSize, Descriptor.Size);
        Buffers = new BufferPool(ram.Allocate((ulong)size * (ulong)bufferSize, 64), bufferSize, size);
        // QEMU's host notifier starts out signalled (docs/spec/vhost-user.md §6): a back-end must cope.
        KickFd = new EventFd(preSignalKick ? 1u : 0u);
        CallFd = new EventFd();
        ErrorFd = error;
        _callWaiter.Add(CallFd.Fd, 0);
    }

    public int Index { get; }
    public ushort Size { get; }
    public ulong DescriptorGpa { get; }
    public ulong AvailableGpa { get; }
    public ulong UsedGpa { get; }

    /// <summary>One data buffer per ring entry, <see cref="VirtioFrontendOptions.BufferSize"/> bytes each.</summary>
    public BufferPool Buffers { get; }

    /// <summary>The driver side of the ring; replaced at every start (a reset driver lays out a fresh ring).</summary>
    public DriverQueue Driver => _driver ?? throw new InvalidOperationException("The queue has not been started.");

    /// <summary>Written by the driver to kick the back-end (SET_VRING_KICK).</summary>
    public EventFd KickFd { get; }

    /// <summary>Signalled by the back-end when used buffers need attention (SET_VRING_CALL).</summary>
    public EventFd CallFd { get; }

    /// <summary>Signalled by the back-end when it finds the ring broken (SET_VRING_ERR); null if none was sent.</summary>
    public EventFd? ErrorFd { get; }

    /// <summary>Kicks actually sent (the device asked for them, <see cref="DriverQueue.NeedsKick"/>).</summary>
    public long Kicks { get; private set; }

    /// <summary>Times <see cref="WaitForUsed"/> woke up on a readable call eventfd.</summary>
    public long CallWakeups { get; private set; }

    /// <summary>Signals the back-end wrote to the call eventfd (the sum of the counter values read).</summary>
    public long CallSignals { get; private set; }

    /// <summary>The ring addresses as SET_VRING_ADDR carries them: this process's virtual addresses (docs/spec/vhost-user.md §8).</summary>
    internal VringAddress Address => new(
        (uint)Index, 0, _ram.UserAddress(DescriptorGpa), _ram.UserAddress(UsedGpa), _ram.UserAddress(AvailableGpa), 0);

    /// <summary>A fresh driver ring (all areas cleared) whose indices start at <paramref name="startIndex"/>.</summary>
    internal void Reset(ushort startIndex, bool eventIdx)
    {
        _driver = new DriverQueue(_ram.Memory, Size, DescriptorGpa, AvailableGpa, UsedGpa, _indirectGpa, _indirectSize)
        {
            EventIdx = eventIdx,
        };
        if (startIndex != 0) _driver.ResetIndices(startIndex);
        Buffers.Reset();
        CallFd.Consume();
    }

    /// <summary>Adds a chain (readable buffers first); it becomes visible at the next <see cref="Kick"/>.</summary>
    /// <returns>The head index <see cref="TryTakeUsed"/> will return for it.</returns>
    public ushort Add(ReadOnlySpan<DriverBuffer> buffers, bool indirect = false) => Driver.AddChain(buffers, indirect);

    /// <summary>As <see cref="Add"/>, false when the ring is full.</summary>
    public bool TryAdd(ReadOnlySpan<DriverBuffer> buffers, bool indirect, out ushort head) =>
        Driver.TryAddChain(buffers, indirect, out head);

    /// <summary>
    /// Publishes every chain added so far and writes the kick eventfd only if the device asked for
    /// it (EVENT_IDX avail_event or NO_NOTIFY, docs/spec/virtqueue.md §4). Returns whether it kicked.
    /// </summary>
    public bool Kick()
    {
        var driver = Driver;
        driver.PublishAvailable();
        if (!driver.NeedsKick()) return false;
        KickFd.Signal();
        Kicks++;
        return true;
    }

    /// <summary>Takes the next used chain: its head and the bytes the device wrote.</summary>
    public bool TryTakeUsed(out ushort head, out uint length) => Driver.TryTakeUsed(out head, out length);

    /// <summary>
    /// Blocks in epoll on the call eventfd until a used chain is ready to take, or the timeout
    /// passes. Like a driver re-enabling its interrupt, it first asks to be notified at the next
    /// used entry and re-checks the ring, so a completion that raced with the wait is not missed.
    /// </summary>
    public bool WaitForUsed(TimeSpan timeout)
    {
        var driver = Driver;
        // Publishes used_event = last_used (or clears NO_INTERRUPT) with a full fence (docs/spec/virtqueue.md §5.4).
        driver.SuppressInterrupts = false;
        long deadline = timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];
        while (true)
        {
            if (driver.UsedIndex != driver.LastUsed) return true;
            long remaining = deadline == long.MaxValue ? -1 : Math.Max(0, deadline - Environment.TickCount64);
            if (_callWaiter.Wait(events, (int)Math.Min(remaining, int.MaxValue)) > 0)
            {
                ulong signals = CallFd.Consume();
                if (signals != 0)
                {
                    CallWakeups++;
                    CallSignals += (long)signals;
                }
            }
            else if (remaining == 0)
            {
                return driver.UsedIndex != driver.LastUsed;
            }
        }
    }

    /// <summary>Waits until the back-end signals the error eventfd (a broken ring); consumes the signal.</summary>
    public bool WaitForError(TimeSpan timeout)
    {
        if (ErrorFd is null) throw new InvalidOperationException("No error eventfd was sent for this queue.");
        using var waiter = new Epoll();
        waiter.Add(ErrorFd.Fd, 0);
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (true)
        {
            if (ErrorFd.Consume() != 0) return true;
            long remaining = Math.Max(0, deadline - Environment.TickCount64);
            if (waiter.Wait(events, (int)remaining) == 0 && remaining == 0) return ErrorFd.Consume() != 0;
        }
    }

    public void Dispose()
    {
        _callWaiter.Dispose();
        KickFd.Dispose();
        CallFd.Dispose();
    }
}
