using System.Diagnostics;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Can.Faults;

public sealed partial class FaultInjectingTransport
{
    public TransmitStatus Transmit(in CanFrame frame, TxTag tag)
    {
        if (Quiet && Volatile.Read(ref _wakeSignalled) == 0) return _inner.Transmit(in frame, tag);
        long now = Stopwatch.GetTimestamp();
        Advance(now);
        TransmitStatus status = TransmitOne(in frame, tag, now);
        Settle(now);
        return status;
    }

    /// <summary>Without faults the inner transport's own batch (one wake-up per batch on the virtual bus);
    /// with them, frame by frame.</summary>
    public int TransmitBatch(ReadOnlySpan<CanFrame> frames, ReadOnlySpan<TxTag> tags, out TransmitStatus status)
    {
        if (Quiet && Volatile.Read(ref _wakeSignalled) == 0) return _inner.TransmitBatch(frames, tags, out status);
        long now = Stopwatch.GetTimestamp();
        Advance(now);
        status = TransmitStatus.Sent;
        int sent = 0;
        while (sent < frames.Length && (status = TransmitOne(in frames[sent], tags[sent], now)) == TransmitStatus.Sent) sent++;
        Settle(now);
        return sent;
    }

    /// <summary>
    /// One frame through the TX rules. Every rule is decided once per frame: a frame the inner
    /// transport cannot take now joins the delay line (due at once) instead of being retried by
    /// the device, which would draw again and make a seed's choices depend on timing. Only a full
    /// delay line answers WouldBlock, before any rule is consulted.
    /// </summary>
    private TransmitStatus TransmitOne(in CanFrame frame, TxTag tag, long now)
    {
        StopWaitingForRoom();
        if (_inner.BusState != CanBusState.Down && _forcedBusOff) return TransmitStatus.Down;
        if (_txLine.FreeSpace < 2 || _ownOutcomeCount > _ownOutcomes.Length - 2)
        {
            WaitForRoom();
            return TransmitStatus.WouldBlock;
        }
        DirectionFaults faults = _rules.Tx;
        if (faults.IsActive)
        {
            if (_tx.Refuse(faults.Refuse))
            {
                FaultCounters.Add(ref _counters.TxRefused);
                return TransmitStatus.Rejected;
            }
            if (_tx.Drop(faults.Drop))
            {
                FaultCounters.Add(ref _counters.TxDropped);
                // Lost on the wire: the controller believes it went out, so a waiting LATE_TX_ACK request completes OK.
                if (_inner.Confirmation == TxConfirmation.Deferred) AddOwnOutcome(new TxOutcome(tag, Confirmed: true));
                CountSent(now);
                return TransmitStatus.Sent;
            }
        }
        CanFrame copy = frame;
        bool duplicate = false;
        long due = now;
        if (faults.IsActive)
        {
            if (_tx.FlipBit(faults.FlipBit, ref copy)) FaultCounters.Add(ref _counters.TxBitFlipped);
            duplicate = _tx.Duplicate(faults.Duplicate);
            if (duplicate) FaultCounters.Add(ref _counters.TxDuplicated);
            if (faults.Delay > TimeSpan.Zero)
            {
                due = now + _tx.DelayTicks(Ticks(faults.Delay), Ticks(faults.Jitter));
                FaultCounters.Add(ref _counters.TxDelayed);
            }
        }
        if (due > now || _txLine.Count > 0)
        {
            // Behind frames already held: order is kept.
            _txLine.Add(in copy, tag, due);
            if (duplicate) _txLine.Add(in copy, tag, due);
            ReleaseTx(now);
            CountSent(now);
            return TransmitStatus.Sent;
        }
        TransmitStatus status = _inner.Transmit(in copy, tag);
        if (status == TransmitStatus.WouldBlock)
        {
            _txLine.Add(in copy, tag, now);
            status = TransmitStatus.Sent;
            SetTxReleaseBlocked(true);
        }
        if (status != TransmitStatus.Sent) return status;
        if (duplicate && (_txLine.Count > 0 || _inner.Transmit(in copy, tag) == TransmitStatus.WouldBlock))
        {
            _txLine.Add(in copy, tag, now);
            SetTxReleaseBlocked(true);
        }
        CountSent(now);
        return TransmitStatus.Sent;
    }

    /// <summary>After a call: the timer set for what is next, and made-up outcomes announced (a
    /// transmission may have consumed the wake-up that announced them).</summary>
    private void Settle(long now)
    {
        ScheduleTimer(now);
        if (_ownOutcomeCount > 0) WakeLoop();
    }

    /// <summary>A frame left the guest for the bus: the bus-off-after count moves.</summary>
    private void CountSent(long now)
    {
        if (_busOffFramesLeft > 0 && --_busOffFramesLeft == 0) ForceBusOff(now, _rules.BusOff?.RecoverAfter);
    }

    /// <summary>Hands due frames to the inner transport in order, until one is not due or not taken.</summary>
    private void ReleaseTx(long now)
    {
        bool wasFull = _txLine.FreeSpace < 2;
        while (_txLine.Count > 0 && _txLine.FrontDue <= now)
        {
            TxTag tag = _txLine.FrontTag;
            TransmitStatus status = _inner.Transmit(in _txLine.Front, tag);
            if (status == TransmitStatus.WouldBlock)
            {
                SetTxReleaseBlocked(true);
                return;
            }
            _txLine.RemoveFront();
            // A frame the device counted as sent that cannot go out after all: a waiting LATE_TX_ACK request fails.
            if (status != TransmitStatus.Sent && _inner.Confirmation == TxConfirmation.Deferred)
                AddOwnOutcome(new TxOutcome(tag, Confirmed: false));
        }
        SetTxReleaseBlocked(false);
        if (wasFull && _txLine.FreeSpace >= 2) SignalRoom();
    }

    /// <summary>While a due frame waits for the inner transport's room, its write fd wakes this layer.</summary>
    private void SetTxReleaseBlocked(bool blocked)
    {
        if (blocked == _txReleaseBlocked || _inner.WritePollFd < 0) return;
        _txReleaseBlocked = blocked;
        if (blocked) _readable.Add(_inner.WritePollFd, InnerWritableToken, _inner.WritePollEvents);
        else _readable.Remove(_inner.WritePollFd);
    }

    /// <summary>The device holds a frame for want of room: <see cref="WritePollFd"/> fires when this layer
    /// has made room (the room eventfd), may have (its timer), or, as always, the inner transport can take frames.</summary>
    private void WaitForRoom()
    {
        if (_waitingForRoom) return;
        _waitingForRoom = true;
        _writable.Add(_room.Fd, RoomToken, Libc.EPOLLIN);
        _writable.Add(_timer.Fd, TimerToken, Libc.EPOLLIN);
    }

    /// <summary>The device is transmitting again, so it has stopped watching <see cref="WritePollFd"/>.</summary>
    private void StopWaitingForRoom()
    {
        if (!_waitingForRoom) return;
        _waitingForRoom = false;
        _writable.Remove(_room.Fd);
        _writable.Remove(_timer.Fd);
        _room.Consume();
    }

    private void SignalRoom()
    {
        if (_waitingForRoom) _room.Signal();
    }

    private void AddOwnOutcome(TxOutcome outcome)
    {
        _ownOutcomes[(_ownOutcomeHead + _ownOutcomeCount) % _ownOutcomes.Length] = outcome;
        if (_ownOutcomeCount++ == 0) WakeLoop();
    }

    /// <summary>Outcomes this layer made up (dropped or unsendable frames) go first into the caller's span.</summary>
    private int TakeOwnOutcomes(Span<TxOutcome> outcomes)
    {
        int taken = 0;
        bool wasFull = _ownOutcomeCount > _ownOutcomes.Length - 2;
        while (_ownOutcomeCount > 0 && taken < outcomes.Length)
        {
            outcomes[taken++] = _ownOutcomes[_ownOutcomeHead];
            _ownOutcomeHead = (_ownOutcomeHead + 1) % _ownOutcomes.Length;
            _ownOutcomeCount--;
        }
        // More than fit: stay readable for the rest.
        if (_ownOutcomeCount > 0) WakeLoop();
        if (wasFull && _ownOutcomeCount <= _ownOutcomes.Length - 2) SignalRoom();
        return taken;
    }
}
