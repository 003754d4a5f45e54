using System.Diagnostics;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Can.Faults;

public sealed partial class FaultInjectingTransport
{
    /// <summary>
    /// Frames for the guest: first those whose delay is over, then fresh ones from the inner
    /// transport through the RX rules. Takes from the inner transport no more than the caller asked
    /// for, so a bus that holds its senders back still does; while the delay line is too full to take
    /// more, the inner transport is left unread (and unwatched) until frames leave it.
    /// </summary>
    public int Receive(Span<CanFrame> frames, Span<TxOutcome> outcomes, out int outcomeCount)
    {
        if (Quiet && Volatile.Read(ref _wakeSignalled) == 0) return _inner.Receive(frames, outcomes, out outcomeCount);
        long now = Stopwatch.GetTimestamp();
        Advance(now);
        outcomeCount = TakeOwnOutcomes(outcomes);
        int written = 0;
        if (_forcedBusOff)
        {
            DiscardWhileBusOff(outcomes, ref outcomeCount);
        }
        else
        {
            while (written < frames.Length && _rxLine.Count > 0 && _rxLine.FrontDue <= now)
            {
                frames[written++] = _rxLine.Front;
                _rxLine.RemoveFront();
            }
            ResumeInnerReceive();
            written = ReceiveFresh(frames, written, outcomes, ref outcomeCount, now);
        }
        Settle(now);
        return written;
    }

    private int ReceiveFresh(Span<CanFrame> frames, int written, Span<TxOutcome> outcomes, ref int outcomeCount, long now)
    {
        // A duplicate needs a second slot in the line, whatever the rules say by the time it is taken.
        int room = Math.Min(Math.Min(frames.Length - written, _scratch.Length), _rxLine.FreeSpace / 2);
        if (room == 0)
        {
            if (_rxLine.FreeSpace < 2) PauseInnerReceive();
            return written;
        }
        if (outcomeCount == outcomes.Length) return written;
        int count = _inner.Receive(_scratch.AsSpan(0, room), outcomes[outcomeCount..], out int innerOutcomes);
        outcomeCount += innerOutcomes;
        DirectionFaults faults = _rules.Rx;
        for (int i = 0; i < count; i++)
        {
            ref CanFrame frame = ref _scratch[i];
            bool duplicate = false;
            long due = now;
            if (faults.IsActive && !frame.IsError)
            {
                if (_rx.Drop(faults.Drop))
                {
                    FaultCounters.Add(ref _counters.RxDropped);
                    continue;
                }
                if (_rx.FlipBit(faults.FlipBit, ref frame)) FaultCounters.Add(ref _counters.RxBitFlipped);
                duplicate = _rx.Duplicate(faults.Duplicate);
                if (duplicate) FaultCounters.Add(ref _counters.RxDuplicated);
                if (faults.Delay > TimeSpan.Zero)
                {
                    due = now + _rx.DelayTicks(Ticks(faults.Delay), Ticks(faults.Jitter));
                    FaultCounters.Add(ref _counters.RxDelayed);
                }
            }
            for (int copy = duplicate ? 2 : 1; copy > 0; copy--)
            {
                if (due <= now && _rxLine.Count == 0 && written < frames.Length) frames[written++] = frame;
                else _rxLine.Add(in frame, default, due);
            }
        }
        // Due frames that did not fit wait for the next call, which the timer (armed for the past) brings at once.
        return written;
    }

    /// <summary>A bus-off controller hears nothing: the inner transport is drained and its frames counted
    /// as lost, but its transmission outcomes still reach the device.</summary>
    private void DiscardWhileBusOff(Span<TxOutcome> outcomes, ref int outcomeCount)
    {
        ResumeInnerReceive();
        while (outcomeCount < outcomes.Length)
        {
            int count = _inner.Receive(_scratch, outcomes[outcomeCount..], out int innerOutcomes);
            outcomeCount += innerOutcomes;
            if (count > 0)
            {
                FaultCounters.Add(ref _counters.LostWhileBusOff, count);
                Volatile.Write(ref _rxLostWhileBusOff, _rxLostWhileBusOff + count);
            }
            if (count < _scratch.Length && innerOutcomes == 0) break;
        }
    }

    /// <summary>The delay line is full: level-triggered readiness of the unread inner transport would
    /// wake the device for nothing, so it is unwatched until frames leave the line.</summary>
    private void PauseInnerReceive()
    {
        if (_rxInnerPaused) return;
        _rxInnerPaused = true;
        _readable.Remove(_inner.PollFd);
    }

    private void ResumeInnerReceive()
    {
        if (!_rxInnerPaused || _rxLine.FreeSpace < 2) return;
        _rxInnerPaused = false;
        _readable.Add(_inner.PollFd, InnerReadToken, Libc.EPOLLIN);
    }
}
