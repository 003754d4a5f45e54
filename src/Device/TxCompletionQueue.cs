using VhostDeviceCan.Can;

namespace VhostDeviceCan.Device;

/// <summary>
/// Txq requests popped but not yet marked used, in pop order. Requests complete strictly in
/// that order (docs/spec/vhost-user.md §11: without INFLIGHT_SHMFD only in-order completion keeps a
/// reconnect exact), so a request whose result is known waits behind older ones still on the bus.
/// Fixed capacity: the driver cannot have more chains outstanding than the queue holds.
/// </summary>
internal sealed class TxCompletionQueue(int capacity)
{
    internal enum State : byte
    {
        /// <summary>Result known; completes as soon as it reaches the front.</summary>
        Resolved,
        /// <summary>Handed to the transport; waits for its confirmation (LATE_TX_ACK).</summary>
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
        public CanFrame Frame;
    }

    private readonly Entry[] _entries = new Entry[capacity];
    private int _front;

    public int Count { get; private set; }
    public int AwaitingCount { get; private set; }
    public int HeldCount { get; private set; }

    public bool IsFull => Count == _entries.Length;

    /// <summary>Appends a request and returns its slot, for the caller to fill the frame or result.</summary>
    public ref Entry Add(ushort head, ulong resultAddress, bool hasResultByte, State state, byte result)
    {
        if (IsFull) throw new InvalidOperationException("more Txq requests outstanding than the queue holds");
        ref Entry entry = ref _entries[(_front + Count) % _entries.Length];
        entry.Head = head;
        entry.ResultAddress = resultAddress;
        entry.HasResultByte = hasResultByte;
        entry.State = state;
        entry.Result = result;
        Count++;
        if (state == State.AwaitingConfirmation) AwaitingCount++;
        if (state == State.Held) HeldCount++;
        return ref entry;
    }

    public ref Entry At(int position) => ref _entries[(_front + position) % _entries.Length];

    public void Resolve(ref Entry entry, byte result)
    {
        if (entry.State == State.AwaitingConfirmation) AwaitingCount--;
        if (entry.State == State.Held) HeldCount--;
        entry.State = State.Resolved;
        entry.Result = result;
    }

    public void MarkAwaiting(ref Entry entry)
    {
        if (entry.State == State.Held) HeldCount--;
        entry.State = State.AwaitingConfirmation;
        AwaitingCount++;
    }

    /// <summary>Resolves the <paramref name="count"/> oldest awaiting requests as confirmed on the bus;
    /// transports confirm in send order. Returns how many matched.</summary>
    public int Confirm(int count, byte result)
    {
        int confirmed = 0;
        for (int i = 0; i < Count && confirmed < count; i++)
        {
            ref Entry entry = ref At(i);
            if (entry.State != State.AwaitingConfirmation) continue;
            Resolve(ref entry, result);
            confirmed++;
        }
        return confirmed;
    }

    /// <summary>Resolves everything not yet resolved with <paramref name="result"/> (STOP, bus-off, reset).
    /// Returns how many of them were awaiting a confirmation: the transport still owes those.</summary>
    public int ResolveAll(byte result)
    {
        int abandoned = AwaitingCount;
        for (int i = 0; i < Count; i++)
        {
            ref Entry entry = ref At(i);
            if (entry.State != State.Resolved) Resolve(ref entry, result);
        }
        return abandoned;
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
        _front = (_front + 1) % _entries.Length;
        Count--;
    }

    public void Clear()
    {
        _front = 0;
        Count = 0;
        AwaitingCount = 0;
        HeldCount = 0;
    }
}
