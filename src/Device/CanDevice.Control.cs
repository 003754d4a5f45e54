using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Backend;
using VhostDeviceCan.Can;
using VhostDeviceCan.VirtioCanWire;
using VhostDeviceCan.Virtqueue;

namespace VhostDeviceCan.Device;

public sealed partial class CanDevice
{
    /// <summary>Controlq requests, strictly in order; each is used only once its transition is
    /// complete (docs/spec/virtio-can.md §7). The Linux driver waits for the answer without a timeout,
    /// under rtnl, so every request gets one.</summary>
    private void ProcessControl()
    {
        if (_context is null) return;
        Vring ring = _context.Queue(VirtioCan.ControlQueue);
        if (!ring.IsLive) return;
        SplitQueue queue = ring.Queue;
        Span<byte> request = stackalloc byte[VirtioCan.ControlRequestLength];
        Span<byte> result = stackalloc byte[VirtioCan.ControlResultLength];
        do
        {
            while (true)
            {
                PopResult popped = queue.TryPop(out DescriptorChain chain);
                if (popped == PopResult.Empty) break;
                if (popped == PopResult.Broken)
                {
                    ring.PublishAndSignal();
                    ring.ReportBroken();
                    return;
                }
                Counters.ControlRequests++;
                int length = queue.GetReader(chain).Read(request);
                byte answer = length < request.Length
                    ? Reject("Controlq request shorter than 2 bytes")
                    : Control(BinaryPrimitives.ReadUInt16LittleEndian(request));
                uint used = 0;
                if (chain.WritableLength >= 1)
                {
                    result[0] = answer;
                    used = (uint)queue.GetWriter(chain).Write(result);
                }
                queue.AddUsed(chain.Head, used);
                ring.PublishAndSignal();
            }
        } while (queue.EnableNotification());
    }

    private byte Control(ushort messageType) => messageType switch
    {
        VirtioCan.VIRTIO_CAN_SET_CTRL_MODE_START => Start(),
        VirtioCan.VIRTIO_CAN_SET_CTRL_MODE_STOP => Stop(),
        _ => Reject($"unknown Controlq message type 0x{messageType:x4}"),
    };

    private byte Reject(string reason)
    {
        Counters.ControlRejected++;
        _logger.LogDebug("{Reason}", reason);
        return VirtioCan.VIRTIO_CAN_RESULT_NOT_OK;
    }

    private byte Start()
    {
        if (_transport.BusState == CanBusState.Down)
        {
            _logger.LogWarning("START refused: {Transport} is down", _transport.Name);
            return Reject("START while the interface is down");
        }
        // START while started: the mode already holds; NOT_OK would make the driver's open fail (docs/spec/virtio-can.md §7).
        if (!_started)
        {
            // The guest's CAN restart after bus-off: a transport that models its controller
            // (the virtual bus) goes back on the bus only when asked.
            if (_transport.BusState == CanBusState.BusOff) _transport.Restart();
            _started = true;
            // docs/spec/virtio-can.md §7: clear BUSOFF before the request is marked used; nothing stale from before the stop.
            _status &= unchecked((ushort)~VirtioCan.VIRTIO_CAN_S_CTRL_BUSOFF);
            DiscardRxBacklog();
            _busDropReported = false;
            _lastBusState = _transport.BusState;
            _logger.LogInformation("controller started");
        }
        // docs/spec/linux-driver.md §8.1: the driver may mask a queue's interrupt while its NAPI is still off after this
        // answer; one more interrupt a little later un-sticks it.
        _resignalTimer.Arm(_options.StartResignalDelay);
        return VirtioCan.VIRTIO_CAN_RESULT_OK;
    }

    private byte Stop()
    {
        if (!_started) return VirtioCan.VIRTIO_CAN_RESULT_OK;
        // docs/spec/linux-driver.md §8.1: complete every TX request already in the ring before answering, and pick up
        // confirmations the bus has already given; what is still unconfirmed did not go out.
        ProcessTx();
        ReceiveFromTransport();
        _started = false;
        FailPendingTx();
        CompleteResolvedTx();
        StopWatchingWritable();
        // Requests still in the ring behind frames the transport held back were never popped (and
        // the Txq notification stays off while frames are held): answer them now, before STOP's answer.
        ProcessTx();
        DiscardRxBacklog();
        ResumeReceive();
        _resignalTimer.Disarm();
        _logger.LogInformation("controller stopped: {Counters}", Counters);
        return VirtioCan.VIRTIO_CAN_RESULT_OK;
    }
}
