using System.Diagnostics;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Backend;
using VhostDeviceCan.Can;
using VhostDeviceCan.Capture;
using VhostDeviceCan.Interop;
using VhostDeviceCan.VirtioCanWire;
using VhostDeviceCan.Virtqueue;

namespace VhostDeviceCan.Device;

public sealed partial class CanDevice
{
    /// <summary>Frames handed to the transport in one call; the virtual bus wakes each member once per batch.</summary>
    private const int TxBatchSize = 64;

    private readonly TxCompletionQueue _txPending;
    private readonly CanFrame[] _txBatch = new CanFrame[TxBatchSize];
    private readonly TxTag[] _txBatchTags = new TxTag[TxBatchSize];
    private readonly byte[] _txScratch = new byte[VirtioCan.MaxTxRequestLength];
    private bool _watchingWritable;
    private bool _txFilterReported;
    private TxRateLimiter? _txLimiter;
    private CanIdFilter? _txFilter;
    private bool _txThrottled;
    // When the current batch of requests was taken off the Txq: one clock read per batch.
    private long _txPoppedAt;
    // A TX-completion signal put off until the current event is handled (SignalTxCompletions).
    private bool _txSignalDue;
    private const ulong TxSignalToken = DeviceEventLoop.FirstDeviceToken + 5;

    /// <summary>Drains the Txq (docs/spec/virtio-can.md §8): each request is validated, sent, and completed in
    /// order once its result is known.</summary>
    private void ProcessTx()
    {
        if (_context is null) return;
        Vring ring = _context.Queue(VirtioCan.TxQueue);
        if (!ring.IsLive) return;
        SplitQueue queue = ring.Queue;
        _txThrottled = false;
        do
        {
            queue.DisableNotification();
            // While the transport holds frames back, leave further requests in the ring: order matters.
            while (_txPending.HeldCount == 0 && !_txPending.IsFull && !_txThrottled)
            {
                int batched = 0;
                _txPoppedAt = Stopwatch.GetTimestamp();
                while (batched < TxBatchSize && !_txPending.IsFull)
                {
                    // Over its budget the guest's requests wait in the ring, where its driver
                    // sees a full queue and backs off; only a running controller is paced, so
                    // STOP still answers everything in the ring at once.
                    bool paced = _txLimiter is not null && _started;
                    long now = paced ? Stopwatch.GetTimestamp() : 0;
                    if (paced && !_txLimiter!.CanSend(now))
                    {
                        ThrottleTx(now);
                        break;
                    }
                    PopResult result = queue.TryPop(out DescriptorChain chain);
                    if (result == PopResult.Empty) break;
                    if (paced) _txLimiter!.Sent(now);
                    if (result == PopResult.Broken)
                    {
                        SendBatch(batched);
                        CompleteResolvedTx();
                        ring.ReportBroken();
                        return;
                    }
                    if (DecodeTx(queue, chain, out TxTag tag)) Batch(ref batched, tag);
                }
                if (batched == 0) break;
                SendBatch(batched);
                CheckBusState();
            }
            CompleteResolvedTx();
        } while (_txPending.HeldCount == 0 && !_txThrottled && queue.EnableNotification());
    }

    /// <summary>Leaves the Txq notification off and comes back when the budget allows the next frame.</summary>
    private void ThrottleTx(long now)
    {
        _txThrottled = true;
        Counters.TxThrottled++;
        _rateTimer.Arm(TimeSpan.FromSeconds((double)_txLimiter!.TicksUntilNext(now) / Stopwatch.Frequency));
    }

    /// <summary>Reads one request and records it; returns true when it is a valid frame to send.</summary>
    private bool DecodeTx(SplitQueue queue, in DescriptorChain chain, out TxTag tag)
    {
        bool hasResult = chain.WritableLength >= VirtioCan.TxResultLength;
        ChainReader reader = queue.GetReader(chain);
        int length = reader.Read(_txScratch);
        TxVerdict verdict = TxRequestDecoder.Decode(_txScratch.AsSpan(0, length), _negotiated, out CanFrame frame);
        tag = default;
        byte notOk = VirtioCan.VIRTIO_CAN_RESULT_NOT_OK;
        if (!hasResult)
        {
            // docs/spec/virtio-can.md §8.6: nowhere to write a result; used length 0 reads as NOT_OK to the driver.
            Counters.TxMalformedChains++;
            _logger.LogDebug("Txq request {Head} has no writable result byte", chain.Head);
            _txPending.Add(chain.Head, 0, false, TxCompletionQueue.State.Resolved, notOk, _txPoppedAt);
            return false;
        }
        if (verdict != TxVerdict.Ok)
        {
            Counters.CountRejected(verdict);
            if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug("Txq request {Head} refused: {Verdict}", chain.Head, verdict);
            _txPending.Add(chain.Head, chain.FirstWritableAddress, true, TxCompletionQueue.State.Resolved, notOk, _txPoppedAt);
            return false;
        }
        if (!_started)
        {
            Counters.TxNotOkStopped++;
            _txPending.Add(chain.Head, chain.FirstWritableAddress, true, TxCompletionQueue.State.Resolved, notOk, _txPoppedAt);
            return false;
        }
        if (_txFilter is { } filter && !filter.Allows(in frame))
        {
            Counters.TxFiltered++;
            if (!_txFilterReported)
            {
                // Once per session at warning: a misconfigured filter shows up at once, a guest
                // probing foreign identifiers cannot flood the log.
                _txFilterReported = true;
                _logger.LogWarning("guest sent {Frame}, outside its TX filter {Filter}: answered NOT_OK (further refusals are counted and logged at debug level)", frame, filter);
            }
            else if (_logger.IsEnabled(LogLevel.Debug))
            {
                _logger.LogDebug("Txq request {Head} refused: {Frame} is outside the TX filter", chain.Head, frame);
            }
            _txPending.Add(chain.Head, chain.FirstWritableAddress, true, TxCompletionQueue.State.Resolved, notOk, _txPoppedAt);
            return false;
        }
        if (_traceFrames) _logger.LogTrace("TX {Frame}", frame);
        ref var entry = ref _txPending.Add(chain.Head, chain.FirstWritableAddress, true, TxCompletionQueue.State.Held, notOk, _txPoppedAt);
        entry.Frame = frame;
        tag = entry.Tag;
        return true;
    }

    private void Batch(ref int batched, TxTag tag)
    {
        _txBatchTags[batched] = tag;
        _txBatch[batched++] = _txPending.Tagged(tag).Frame;
    }

    /// <summary>Hands the first <paramref name="count"/> batched frames to the transport. Frames it
    /// cannot take now stay held, in order, until it becomes writable.</summary>
    private void SendBatch(int count)
    {
        int offset = 0;
        while (offset < count)
        {
            int sent = _transport.TransmitBatch(_txBatch.AsSpan(offset, count - offset), _txBatchTags.AsSpan(offset, count - offset), out TransmitStatus status);
            if (_captures is { } captures) Record(captures, _txBatch.AsSpan(offset, sent), CaptureDirection.Transmitted);
            for (int i = 0; i < sent; i++) MarkSent(ref _txPending.Tagged(_txBatchTags[offset + i]));
            offset += sent;
            if (offset == count) break;
            ref var entry = ref _txPending.Tagged(_txBatchTags[offset]);
            if (status == TransmitStatus.WouldBlock)
            {
                // Back-pressure (ENOBUFS / EAGAIN): keep the rest held and wait for writability,
                // neither failing the requests nor spinning.
                WatchWritable();
                return;
            }
            Counters.TxNotOkBusDown++;
            _txPending.Resolve(ref entry, VirtioCan.VIRTIO_CAN_RESULT_NOT_OK);
            offset++;
        }
    }

    private void MarkSent(ref TxCompletionQueue.Entry entry)
    {
        Counters.TxFrames++;
        Counters.TxBytes += entry.Frame.IsRemote ? 0 : entry.Frame.Length;
        // docs/spec/virtio-can.md §8.4: with LATE_TX_ACK the request completes only once the bus confirms the frame.
        if (_transport.Confirmation != TxConfirmation.Deferred)
        {
            _txPending.Resolve(ref entry, VirtioCan.VIRTIO_CAN_RESULT_OK);
        }
        else if (LateTxAck)
        {
            _txPending.MarkAwaiting(ref entry);
        }
        else
        {
            // Without LATE_TX_ACK the write is the completion; the outcome that follows
            // finds its request settled and is ignored.
            _txPending.Resolve(ref entry, VirtioCan.VIRTIO_CAN_RESULT_OK);
        }
    }

    /// <summary>Fails every request whose result is not known yet (STOP, bus-off, queue stop).
    /// Frames already handed over may still go out; the outcomes of their tags are then ignored.</summary>
    private void FailPendingTx() => Counters.TxCancelled += _txPending.ResolveAll(VirtioCan.VIRTIO_CAN_RESULT_NOT_OK);

    /// <summary>Settles the request awaiting <paramref name="outcome"/>'s tag, if one still does.
    /// True when one was resolved.</summary>
    private bool ApplyOutcome(in TxOutcome outcome)
    {
        byte result = outcome.Confirmed ? VirtioCan.VIRTIO_CAN_RESULT_OK : VirtioCan.VIRTIO_CAN_RESULT_NOT_OK;
        if (!_txPending.TrySettle(outcome.Tag, result)) return false;
        if (!outcome.Confirmed) Counters.TxNotConfirmed++;
        return true;
    }

    /// <summary>The transport can take frames again: send what was held, then continue with the ring.</summary>
    private void RetryHeldTx()
    {
        StopWatchingWritable();
        int batched = 0;
        for (int i = 0; i < _txPending.Count && batched < TxBatchSize; i++)
        {
            ref var entry = ref _txPending.At(i);
            if (entry.State == TxCompletionQueue.State.Held) Batch(ref batched, entry.Tag);
        }
        if (batched > 0)
        {
            if (_started) SendBatch(batched);
            else FailPendingTx();
            CheckBusState();
        }
        CompleteResolvedTx();
        if (_txPending.HeldCount == 0) ProcessTx();
    }

    /// <summary>Marks used every request at the front whose result is known, then signals once.</summary>
    private void CompleteResolvedTx()
    {
        if (_context is null) return;
        Vring ring = _context.Queue(VirtioCan.TxQueue);
        if (!ring.Queue.IsReady) return;
        int completed = 0;
        Span<byte> result = stackalloc byte[1];
        long now = 0;
        while (_txPending.TryPeekResolved(out var entry))
        {
            _txPending.RemoveFront();
            if (now == 0) now = Stopwatch.GetTimestamp();
            TxAckLatency.Observe(now - entry.PoppedAt);
            uint used = 0;
            if (entry.HasResultByte)
            {
                result[0] = entry.Result;
                if (_context.Memory.TryWrite(entry.ResultAddress, result)) used = 1;
            }
            ring.Queue.AddUsed(entry.Head, used);
            completed++;
        }
        if (completed > 0 && ring.Queue.PublishUsed()) SignalTxCompletions(ring, completed);
    }

    /// <summary>
    /// On the loop's thread the TX-completion interrupt for a trickle (at most
    /// <see cref="MaxCompletionsPutOff"/> requests, the first batch of the event) waits until the
    /// event is handled: a frame it sent to a neighbour on the same thread is delivered, and that
    /// guest woken, first. The completions are already published; only the signal comes later,
    /// which shortens a frame's path between guests by a system call. A flood signals at once: a
    /// guest that keeps its ring full learns of free room while the device still delivers.
    /// </summary>
    private void SignalTxCompletions(Vring ring, int completed)
    {
        if (_txSignalDue || completed > MaxCompletionsPutOff || _context is not { IsLoopThread: true } context)
        {
            _txSignalDue = false;
            ring.Call?.Signal();
            return;
        }
        _txSignalDue = true;
        context.RunAfterThisEvent(TxSignalToken);
    }

    /// <summary>A trickle whose completion signal may wait for the end of the event (see
    /// <see cref="SignalTxCompletions"/>): a frame or a few, as one at a time sends them.</summary>
    private const int MaxCompletionsPutOff = 4;

    /// <summary>The put-off TX-completion signal. A spurious one (the ring since reset) is allowed
    /// by virtio; the used entries it announces were published when they were added.</summary>
    private void SignalDueTxCompletions()
    {
        if (!_txSignalDue || _context is null) return;
        _txSignalDue = false;
        _context.Queue(VirtioCan.TxQueue).Call?.SignalUnlessDisposed();
    }

    private void WatchWritable()
    {
        // A transport without a write fd never reports WouldBlock; nothing to wait for.
        if (_watchingWritable || _context is null || _transport.WritePollFd < 0) return;
        _watchingWritable = true;
        _context.RegisterFd(_transport.WritePollFd, TransportWriteToken, _transport.WritePollEvents);
    }

    private void StopWatchingWritable()
    {
        if (!_watchingWritable || _context is null) return;
        _watchingWritable = false;
        _context.UnregisterFd(_transport.WritePollFd);
    }
}
