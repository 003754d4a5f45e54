using System.Runtime.InteropServices;
using VhostDeviceCan.Can;

namespace VhostDeviceCan.Capture;

/// <summary>
/// A bounded single-producer single-consumer ring of <see cref="CaptureRecord"/>s between one
/// device's event loop (the producer) and one capture's writer thread (the consumer). The
/// producer never waits: a batch that does not fit is cut short and the rest counted in
/// <see cref="Dropped"/>. Each side publishes its counter once per batch.
/// </summary>
public sealed class CaptureRing
{
    /// <summary>At 88 bytes a record, 32,768 slots (2.75 MiB) hold 30 ms of a guest at a million
    /// frames per second: the writer thread may be that late on a loaded host (measured: 8,192
    /// lost 7 % of a 500,000 frames/s benchmark with the host's load average at 20).</summary>
    public const int DefaultCapacity = 32768;

    // The counters on separate cache lines: the producer writes one, the consumer the other.
    [StructLayout(LayoutKind.Explicit, Size = 192)]
    private struct Positions
    {
        [FieldOffset(64)] public long Written;
        [FieldOffset(128)] public long Read;
    }

    private readonly CaptureRecord[] _slots;
    private readonly long _mask;
    private Positions _positions;
    private long _dropped;
    private readonly WriterWake? _wake;

    public CaptureRing(int interfaceIndex, int capacity = DefaultCapacity) : this(interfaceIndex, capacity, null)
    {
    }

    internal CaptureRing(int interfaceIndex, int capacity, WriterWake? wake)
    {
        _wake = wake;
        if (capacity < 2 || (capacity & (capacity - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(capacity), "capacity must be a power of two, at least 2");
        _slots = new CaptureRecord[capacity];
        _mask = capacity - 1;
        InterfaceIndex = interfaceIndex;
    }

    /// <summary>The interface (pcapng IDB, log name) this ring's records belong to in its capture.</summary>
    public int InterfaceIndex { get; }

    public int Capacity => _slots.Length;

    /// <summary>Records the producer could not fit; any thread may read it.</summary>
    public long Dropped => Volatile.Read(ref _dropped);

    /// <summary>Records the producer wrote; any thread may read it.</summary>
    public long Written => Volatile.Read(ref _positions.Written);

    /// <summary>Producer only. Copies as many of <paramref name="frames"/> as fit, stamped with one
    /// time and direction; the rest are dropped and counted.</summary>
    public void Write(ReadOnlySpan<CanFrame> frames, CaptureDirection direction, long timestamp)
    {
        long written = _positions.Written;
        // Acquire: pairs with the consumer's release of Read, so the slots it freed are copied out.
        long free = _slots.Length - (written - Volatile.Read(ref _positions.Read));
        int fits = (int)Math.Min(free, frames.Length);
        for (int i = 0; i < fits; i++)
        {
            ref CaptureRecord slot = ref _slots[(written + i) & _mask];
            slot.Timestamp = timestamp;
            slot.Direction = direction;
            slot.Frame = frames[i];
        }
        // Release: the records are complete before the consumer sees the new count.
        Volatile.Write(ref _positions.Written, written + fits);
        if (fits < frames.Length) Volatile.Write(ref _dropped, _dropped + frames.Length - fits);
        // A writer asleep while the ring fills past half is woken early, once: at a high frame
        // rate its idle sleep would otherwise outlast the ring.
        if (_wake is not null && free - fits < _slots.Length / 2) _wake.WakeIfSleeping();
    }

    /// <summary>Consumer only. Moves published records, in order, into <paramref name="destination"/>.</summary>
    public int Read(Span<CaptureRecord> destination)
    {
        long read = _positions.Read;
        // Acquire: pairs with the producer's release, so the records are complete.
        long available = Volatile.Read(ref _positions.Written) - read;
        int count = (int)Math.Min(available, destination.Length);
        for (int i = 0; i < count; i++) destination[i] = _slots[(read + i) & _mask];
        // Release: copied out before the producer may reuse the slots.
        Volatile.Write(ref _positions.Read, read + count);
        return count;
    }
}
