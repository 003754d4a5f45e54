using VhostDeviceCan.Can;

namespace VhostDeviceCan.Device;

/// <summary>
/// Txq requests popped but not yet marked used, in pop order. Requests complete strictly in
/// that order (docs/spec/vhost-user.md §11: without INFLIGHT_SHMFD only in-order completion keeps a
/// reconnect exact), so a request whose result is known waits behind older ones still on the bus.
/// Fixed capacity: the driver cannot have more chains outstanding than the queue holds.
/// </summary>
/// <remarks>
/// Each request with a frame to send gets a <see cref="TxTag"/> naming it to the transport: its
/// slot in the ring below plus a sequence number that never repeats. A transport's outcome thus
/// finds its request directly, whatever order outcomes come in, and an outcome for a request
/// settled earlier (failed by STOP, bus-off or reset, then echoed anyway) or for a tag this queue
/// never issued finds nothing and changes nothing.
/// </remarks>
internal sealed class TxCompletionQueue
{
    private const int SlotBits = 16;
    private const ulong SlotMask = (1UL << SlotBits) - 1;

    internal enum State : byte
    {
        /// <summary>Result known; completes as soon as it reaches the front.</summary>
        Resolved,
        /// <summary>Handed to the transport; waits for the outcome of its tag (LATE_TX_ACK).</summary>
        AwaitingConfirmation,
        /// <summary>Not yet taken by the transport (it would block); retried on writability.</summary>
        Held,
    }

    internal struct Entry
    {
        public ushort Head;
        public ulong ResultAddress;
        public bool HasResultByte;
        public State State;
        public byte Result;
        public TxTag Tag;
        /// <summary>When the request was taken off the Txq (<see cref="System.Diagnostics.Stopwatch"/> ticks),
        /// for the acknowledge latency.</summary>
        public long PoppedAt;
        public CanFrame Frame;
    }

    private readonly Entry[] _entries;
    private int _front;
    private int _count;
    private ulong _nextSequence = 1;

    public TxCompletionQueue(int capacity)
    {
        if (capacity < 1 || (ulong)capacity > SlotMask + 1) throw new ArgumentOutOfRangeException(nameof(capacity));
        _entries = new Entry[capacity];
    }

    public int Count
    {
        get => _count;
        private set => Volatile.Write(ref _count, value);
    }

    /// <summary><see cref="Count"/> for a reader on another thread (metrics); a moment old.</summary>
    public int CountFromAnyThread => Volatile.Read(ref _count);

    public int HeldCount { get; private set; }

    public bool IsFull => Count == _entries.Length;

    /// <summary>Appends a request and returns its slot, for the caller to fill the frame. A
    /// <see cref="State.Held"/> request gets a fresh tag.</summary>
    public ref Entry Add(ushort head, ulong resultAddress, bool hasResultByte, State state, byte result, long poppedAt)
    {
        if (IsFull) throw new InvalidOperationException("more Txq requests outstanding than the queue holds");
        int slot = (_front + Count) % _entries.Length;
        ref Entry entry = ref _entries[slot];
        entry.Head = head;
        entry.ResultAddress = resultAddress;
        entry.HasResultByte = hasResultByte;
        entry.State = state;
        entry.Result = result;
        entry.PoppedAt = poppedAt;
        entry.Tag = state == State.Held ? new TxTag(_nextSequence++ << SlotBits | (uint)slot) : default;
        Count++;
        if (state == State.Held) HeldCount++;
        return ref entry;
    }

    public ref Entry At(int position) => ref _entries[(_front + position) % _entries.Length];

    /// <summary>The request that <paramref name="tag"/> was issued for; it must still be queued.</summary>
    public ref Entry Tagged(TxTag tag)
    {
        ref Entry entry = ref _entries[(int)(tag.Value & SlotMask)];
        if (entry.Tag != tag || entry.State == State.Resolved) throw new InvalidOperationException($"{tag} names no outstanding request");
        return ref entry;
    }

    public void Resolve(ref Entry entry, byte result)
    {
        if (entry.State == State.Held) HeldCount--;
        entry.State = State.Resolved;
        entry.Result = result;
    }

    public void MarkAwaiting(ref Entry entry)
    {
        if (entry.State == State.Held) HeldCount--;
        entry.State = State.AwaitingConfirmation;
    }

    /// <summary>Resolves the request that awaits the outcome of <paramref name="tag"/>. False when no
    /// request does: it was settled already, or the tag is not one of ours.</summary>
    public bool TrySettle(TxTag tag, byte result)
    {
        ulong slot = tag.Value & SlotMask;
        if (slot >= (ulong)_entries.Length || !IsQueued((int)slot)) return false;
        ref Entry entry = ref _entries[slot];
        if (entry.Tag != tag || entry.State != State.AwaitingConfirmation) return false;
        Resolve(ref entry, result);
        return true;
    }

    /// <summary>Resolves everything not yet resolved with <paramref name="result"/> (STOP, bus-off,
    /// queue stop). Outcomes that still come for them are ignored by <see cref="TrySettle"/>.
    /// Returns how many were not resolved before.</summary>
    public int ResolveAll(byte result)
    {
        int resolved = 0;
        for (int i = 0; i < Count; i++)
        {
            ref Entry entry = ref At(i);
            if (entry.State == State.Resolved) continue;
            Resolve(ref entry, result);
            resolved++;
        }
        return resolved;
    }

    public bool TryPeekResolved(out Entry entry)
    {
        entry = default;
        if (Count == 0 || At(0).State != State.Resolved) return false;
        entry = At(0);
        return true;
    }

    public void RemoveFront()
    {
        At(0).Tag = default;
        _front = (_front + 1) % _entries.Length;
        Count--;
    }

    /// <summary>Forgets every request (virtio reset). Tags keep counting, so an outcome for a
    /// request of the previous session never matches one of the next.</summary>
    public void Clear()
    {
        for (int i = 0; i < Count; i++) At(i).Tag = default;
        _front = 0;
        Count = 0;
        HeldCount = 0;
    }

    private bool IsQueued(int slot) => (slot - _front + _entries.Length) % _entries.Length < Count;
}
