using System.Buffers.Binary;

namespace VhostDeviceCan.Can;

/// <summary>
/// Frames a SocketCAN socket sent and has not heard echoed yet, oldest first, each with the tag
/// it was sent with. The kernel echoes a socket's frames in send order once the interface
/// transmitted them, so an echo is matched by content against the oldest frames: the first equal
/// one is the frame echoed, and every frame before it was dropped from the interface queue and
/// will never be echoed. An echo that matches nothing (tracking was reset since) reports nothing.
/// </summary>
/// <remarks>
/// Fixed capacity, no allocation after construction. Outcomes go into the caller's span; when it
/// is full, the echo being matched is left for the caller to present again, and frames found
/// lost stay at the front until there is room to report them.
/// </remarks>
internal sealed class PendingEchoes(int capacity)
{
    private readonly (ulong Head, ulong Data, TxTag Tag)[] _sent = new (ulong, ulong, TxTag)[capacity];
    private int _front;
    private int _count;
    // The oldest _lost frames will never be echoed; they are reported as failed first.
    private int _lost;

    public int Count => _count;

    /// <summary>Frames known lost whose failure has not been reported yet.</summary>
    public int LostCount => _lost;

    /// <summary>Remembers a frame just sent. When more are outstanding than tracked (never with the
    /// device's bounded queue) the oldest is forgotten; its tag is then never reported.</summary>
    public void Add(ReadOnlySpan<byte> wire, TxTag tag)
    {
        if (_count == _sent.Length)
        {
            _front = (_front + 1) % _sent.Length;
            _count--;
            if (_lost > 0) _lost--;
        }
        var (head, data) = Key(wire);
        _sent[(_front + _count++) % _sent.Length] = (head, data, tag);
    }

    /// <summary>The interface dropped its queue (went down, went away): nothing sent so far will be
    /// echoed. Their failures are reported by the next <see cref="ReportLost"/> calls.</summary>
    public void LoseAll() => _lost = _count;

    /// <summary>Reports frames known lost as failed, as many as fit. True when none are left to report.</summary>
    public bool ReportLost(Span<TxOutcome> outcomes, ref int outcomeCount)
    {
        while (_lost > 0 && outcomeCount < outcomes.Length)
        {
            outcomes[outcomeCount++] = new TxOutcome(_sent[_front].Tag, Confirmed: false);
            _front = (_front + 1) % _sent.Length;
            _count--;
            _lost--;
        }
        return _lost == 0;
    }

    /// <summary>
    /// Matches the echo <paramref name="wire"/> and reports what it tells: frames before it lost,
    /// the matching one confirmed. False when <paramref name="outcomes"/> ran out of room before
    /// the echo itself was reported; present the same echo again with room.
    /// </summary>
    public bool TryMatch(ReadOnlySpan<byte> wire, Span<TxOutcome> outcomes, ref int outcomeCount)
    {
        var (head, data) = Key(wire);
        for (int i = _lost; i < _count; i++)
        {
            var sent = _sent[(_front + i) % _sent.Length];
            if (sent.Head != head || sent.Data != data) continue;
            _lost = i;
            if (!ReportLost(outcomes, ref outcomeCount) || outcomeCount == outcomes.Length) return false;
            outcomes[outcomeCount++] = new TxOutcome(sent.Tag, Confirmed: true);
            _front = (_front + 1) % _sent.Length;
            _count--;
            return true;
        }
        // Not a frame we know of: a guess would complete some other request.
        return true;
    }

    private static (ulong Head, ulong Data) Key(ReadOnlySpan<byte> wire) =>
        // Byte 5 (FD flags) is left out: the kernel adds CANFD_FDF to what it sends. Bytes past
        // the first 8 of data are left out too: frames that differ only there are told apart by order.
        (BinaryPrimitives.ReadUInt32LittleEndian(wire) | (ulong)wire[4] << 32,
         BinaryPrimitives.ReadUInt64LittleEndian(wire[8..]));
}
