namespace VhostDeviceCan.Interop;

/// <summary>A one-shot monotonic timer that an epoll loop can wait on, instead of a sleeping thread.</summary>
public sealed class TimerFd : IDisposable
{
    private readonly FileDescriptor _descriptor = FileDescriptor.Check(
        Libc.timerfd_create(Libc.CLOCK_MONOTONIC, Libc.TFD_CLOEXEC | Libc.TFD_NONBLOCK), "timerfd_create");

    public int Fd => _descriptor.Value;

    /// <summary>For a thread that arms the timer while its owner may close it (reference counting).</summary>
    public FileDescriptor Descriptor => _descriptor;

    /// <summary>Fires once after <paramref name="delay"/> (replacing any earlier arming).</summary>
    // SAFETY: the pointer is to a local ITimerSpec that outlives the timerfd_settime call.
    public unsafe void Arm(TimeSpan delay)
    {
        long ticks = Math.Max(delay.Ticks, 1);
        var spec = new Libc.ITimerSpec
        {
            Value = new Libc.TimeSpec { Seconds = ticks / TimeSpan.TicksPerSecond, Nanoseconds = ticks % TimeSpan.TicksPerSecond * 100 },
        };
        if (Libc.timerfd_settime(Fd, 0, &spec, null) < 0) throw SyscallException.FromLast("timerfd_settime");
    }

    /// <summary>Fires once when CLOCK_MONOTONIC reaches <paramref name="monotonicNanoseconds"/>
    /// (<see cref="MonotonicNow"/>'s scale), at once if that has passed. An absolute deadline never
    /// drifts by the time taken between reading the clock and arming.</summary>
    // SAFETY: the pointer is to a local ITimerSpec that outlives the timerfd_settime call.
    public unsafe void ArmAt(long monotonicNanoseconds)
    {
        long at = Math.Max(monotonicNanoseconds, 1);
        var spec = new Libc.ITimerSpec
        {
            Value = new Libc.TimeSpec { Seconds = at / 1_000_000_000, Nanoseconds = at % 1_000_000_000 },
        };
        if (Libc.timerfd_settime(Fd, Libc.TFD_TIMER_ABSTIME, &spec, null) < 0) throw SyscallException.FromLast("timerfd_settime");
    }

    /// <summary>CLOCK_MONOTONIC in nanoseconds: the clock <see cref="ArmAt"/> deadlines are on.</summary>
    // SAFETY: clock_gettime writes the one local TimeSpec it is given.
    public static unsafe long MonotonicNow()
    {
        Libc.TimeSpec now;
        if (Libc.clock_gettime(Libc.CLOCK_MONOTONIC, &now) < 0) throw SyscallException.FromLast("clock_gettime");
        return now.Seconds * 1_000_000_000 + now.Nanoseconds;
    }

    // SAFETY: the pointer is to a local ITimerSpec that outlives the timerfd_settime call.
    public unsafe void Disarm()
    {
        var spec = default(Libc.ITimerSpec);
        Libc.timerfd_settime(Fd, 0, &spec, null);
    }

    /// <summary>Clears an expiry; returns how many expirations happened (0 if none).</summary>
    // SAFETY: read fills the 8-byte local it is given and nothing else.
    public unsafe ulong Consume()
    {
        ulong expirations = 0;
        return Libc.read(Fd, &expirations, sizeof(ulong)) == sizeof(ulong) ? expirations : 0;
    }

    public void Dispose() => _descriptor.Dispose();
}
