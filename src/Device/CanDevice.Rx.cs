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
    private const int RxBatchSize = 64;

    private readonly RxBacklog _rxBacklog;
    private readonly CanFrame[] _rxBatch = new CanFrame[RxBatchSize];
    private readonly TxOutcome[] _txOutcomes = new TxOutcome[RxBatchSize];
    private bool _backlogFullReported;
    private bool _busDropReported;
    private bool _rxPaused;
    private CanIdFilter? _rxFilter;

    /// <summary>
    /// Takes everything the transport has: frames for the guest and transmission outcomes. It
    /// always drains, even while stopped or without guest buffers, so its fd never stays readable
    /// and confirmations for LATE_TX_ACK keep flowing; except from a transport that holds its
    /// senders back (<see cref="ICanTransport.HoldsBackSenders"/>): while the controller runs, it
    /// takes only what the backlog has room for, and with the backlog full it stops watching the
    /// transport until the guest takes frames (<see cref="ResumeReceive"/>).
    /// </summary>
    private void ReceiveFromTransport()
    {
        bool settled = false;
        while (true)
        {
            Span<CanFrame> room = _rxBatch;
            if (_started && _transport.HoldsBackSenders)
            {
                int free = _rxBacklog.Capacity - _rxBacklog.Count;
                if (free == 0)
                {
                    PauseReceive();
                    break;
                }
                if (free < room.Length) room = room[..free];
            }
            int count = _transport.Receive(room, _txOutcomes, out int outcomes);
            for (int i = 0; i < outcomes; i++) settled |= ApplyOutcome(in _txOutcomes[i]);
            if (_captures is { } captures) EnqueueAndRecord(captures, count);
            else for (int i = 0; i < count; i++) Enqueue(in _rxBatch[i]);
            // A full span may have left more behind; anything less means the transport is drained.
            if (count < room.Length && outcomes < _txOutcomes.Length) break;
        }
        CheckBusState();
        NoteTransportDrops();
        if (settled) CompleteResolvedTx();
        DeliverRx();
    }

    /// <summary>As <see cref="Enqueue"/> for the first <paramref name="count"/> frames of the batch,
    /// recording those the guest will get: they are moved to the front of the batch, in order.</summary>
    private void EnqueueAndRecord(CaptureRing[] captures, int count)
    {
        int accepted = 0;
        for (int i = 0; i < count; i++)
            if (Enqueue(in _rxBatch[i])) _rxBatch[accepted++] = _rxBatch[i];
        Record(captures, _rxBatch.AsSpan(0, accepted), CaptureDirection.Received);
    }

    /// <summary>Queues a frame for the guest; true when it will be delivered.</summary>
    private bool Enqueue(in CanFrame frame)
    {
        // docs/spec/virtio-can.md §7: a stopped controller neither delivers nor queues.
        if (!_started)
        {
            Counters.RxDroppedWhileStopped++;
            return false;
        }
        if (_rxFilter is { } filter && !frame.IsError && !filter.Allows(in frame))
        {
            Counters.RxFiltered++;
            return false;
        }
        if (_rxBacklog.IsFull)
        {
            Counters.RxDroppedBacklogFull++;
            if (!_backlogFullReported)
            {
                _backlogFullReported = true;
                _logger.LogWarning("guest is not taking received frames; holding {Count}, dropping newer ones", _rxBacklog.Capacity);
            }
            return false;
        }
        RxVerdict verdict = RxFrameEncoder.Encode(in frame, _negotiated, _rxBacklog.BackSlot, out int length);
        if (verdict != RxVerdict.Ok)
        {
            // Error frames and frame types the guest did not negotiate never reach it (docs/spec/virtio-can.md §9).
            Counters.CountDropped(verdict);
            return false;
        }
        _rxBacklog.Commit(length);
        if (_traceFrames) _logger.LogTrace("RX {Frame}", frame);
        return true;
    }

    /// <summary>Level-triggered epoll would report the unread transport forever: unwatch it.</summary>
    private void PauseReceive()
    {
        if (_rxPaused || _context is null) return;
        _rxPaused = true;
        _context.UnregisterFd(_transport.PollFd);
    }

    /// <summary>Watches the transport again once the backlog has room or the controller stopped
    /// (frames are then taken and dropped, so a stopped guest never holds senders back). The
    /// transport's fd is still readable if frames wait, so epoll reports it at once.</summary>
    private void ResumeReceive()
    {
        if (!_rxPaused || _context is null || (_started && _rxBacklog.IsFull)) return;
        _rxPaused = false;
        _context.RegisterFd(_transport.PollFd, TransportReadToken, Libc.EPOLLIN);
    }

    /// <summary>Frames the transport dropped for this guest (on the virtual bus: it took none for
    /// the overrun bound, so the bus stopped waiting for it) are counted, and reported once per START so that a
    /// chronically slow guest does not flood the log. Frames lost while bus-off are counted apart:
    /// the guest has been told its controller is off the bus (a config change), so no warning.</summary>
    private void NoteTransportDrops()
    {
        Counters.RxDroppedBusOff = _transport.DroppedWhileBusOff;
        long dropped = _transport.Dropped;
        if (dropped == Counters.RxDroppedOnBus) return;
        if (!_busDropReported)
        {
            _busDropReported = true;
            _logger.LogWarning("{Transport}: frames for this guest were dropped because it fell behind (on a virtual bus: it took none for the overrun bound, so the bus stopped waiting for it)", _transport.Name);
        }
        Counters.RxDroppedOnBus = dropped;
    }

    /// <summary>Fills guest Rxq buffers from the backlog, only as the guest supplies them.</summary>
    private void DeliverRx()
    {
        DeliverRxToGuest();
        ResumeReceive();
    }

    /// <summary>The CAN payload of an encoded virtio_can_rx message: a remote frame's zero bytes
    /// (its DLC, which the driver needs) carry nothing.</summary>
    private static int PayloadBytes(ReadOnlySpan<byte> message) =>
        VirtioCanHeader.Read(message).IsRemote ? 0 : message.Length - VirtioCanHeader.Length;

    /// <summary>Frames waiting in the backlog are lost when the controller stops, goes bus-off or
    /// the device is reset; they count as dropped while stopped.</summary>
    private void DiscardRxBacklog() => Counters.RxDroppedWhileStopped += _rxBacklog.Clear();

    private void DeliverRxToGuest()
    {
        if (_context is null || _rxBacklog.Count == 0 || !_started) return;
        Vring ring = _context.Queue(VirtioCan.RxQueue);
        if (!ring.IsLive) return;
        SplitQueue queue = ring.Queue;
        do
        {
            while (_rxBacklog.Count > 0)
            {
                PopResult result = queue.TryPop(out DescriptorChain chain);
                if (result == PopResult.Empty) break;
                if (result == PopResult.Broken)
                {
                    ring.PublishAndSignal();
                    ring.ReportBroken();
                    return;
                }
                ReadOnlySpan<byte> message = _rxBacklog.Front;
                _rxBacklog.RemoveFront();
                if (chain.WritableLength < message.Length)
                {
                    // Never half a frame (docs/spec/virtio-can.md §9): the driver re-posts a buffer returned with length 0.
                    Counters.RxDroppedBufferTooSmall++;
                    queue.AddUsed(chain.Head, 0);
                    continue;
                }
                ChainWriter writer = queue.GetWriter(chain);
                int written = writer.Write(message);
                queue.AddUsed(chain.Head, (uint)written);
                Counters.RxFrames++;
                Counters.RxBytes += PayloadBytes(message);
            }
            ring.PublishAndSignal();
            if (_rxBacklog.Count == 0) _backlogFullReported = false;
            // Ask for a kick on the next posted buffer only while frames wait for one.
        } while (_rxBacklog.Count > 0 && queue.EnableNotification());
    }
}
