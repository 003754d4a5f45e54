using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Can;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon.Bridges;

public sealed partial class SocketCanBridge
{
    /// <summary>Batches the bus has for the interface, while the interface takes them; a few per
    /// wake-up, so a busy bus cannot starve the other direction (the member stays readable).</summary>
    private protected override void DrainBus()
    {
        for (int batch = 0; SendHeld() && batch < 8; batch++)
        {
            int received = _member.Receive(_fromBus, _outcomes, out _);
            if (received == 0) return;
            _fromBusStart = 0;
            _fromBusCount = received;
        }
    }

    /// <summary>Sends the frames taken from the bus; false while the transmit queue holds them back.</summary>
    private bool SendHeld()
    {
        while (_fromBusCount > 0)
        {
            if (_down)
            {
                Drop(SocketCanDrop.InterfaceDown, _fromBusCount);
                break;
            }
            ref readonly CanFrame frame = ref _fromBus[_fromBusStart];
            if (frame.IsFd && !_socket.FdFrames)
            {
                if (!_fdWarned)
                {
                    _fdWarned = true;
                    _log.LogWarning("bridge {Bridge}: {Interface} carries classic CAN only (MTU {Mtu}): CAN FD frames from the bus are dropped and counted as fd-on-classic",
                        _spec, _spec.Interface, _socket.Mtu);
                }
                Drop(SocketCanDrop.FdOnClassic, 1);
                continue;
            }
            int errno = _socket.Send(frame.WireBytes);
            switch (errno)
            {
                case 0:
                    Counters.FramesSent(1);
                    _fromBusStart++;
                    _fromBusCount--;
                    _queueStuck = false;
                    // Progress: a later refusal waits the whole bound again.
                    StopWaitingForQueue();
                    break;
                case Errno.EAGAIN or Errno.ENOBUFS:
                    if (_queueStuck)
                    {
                        Drop(SocketCanDrop.TxQueueFull, 1);
                        break;
                    }
                    if (WaitForQueue(errno)) return false;
                    _queueStuck = true;
                    _log.LogWarning("bridge {Bridge}: {Interface}'s transmit queue stayed full for {Bound} ms: frames are dropped and counted as tx-queue-full until it takes one again",
                        _spec, _spec.Interface, _member.Bus.OverrunAfter.TotalMilliseconds);
                    Drop(SocketCanDrop.TxQueueFull, _fromBusCount);
                    break;
                case Errno.ENETDOWN or Errno.ENODEV or Errno.ENXIO:
                    GoDown(errno);
                    break;
                default:
                    _log.LogDebug("bridge {Bridge}: {Interface} refused {Frame}: {Error}", _spec, _spec.Interface, frame, Errno.Name(errno));
                    Drop(SocketCanDrop.SendError, 1);
                    break;
            }
        }
        StopWaitingForQueue();
        return true;
    }

    /// <summary>Drops held frames from the front, counted for <paramref name="reason"/>.</summary>
    private void Drop(SocketCanDrop reason, int frames)
    {
        Counters.Drop(reason, frames);
        _fromBusStart += frames;
        _fromBusCount -= frames;
    }

    /// <summary>
    /// The queue is full: true to wait and retry (EAGAIN: when the socket is writable; ENOBUFS: the
    /// interface's queue, which the socket knows nothing of, after a short delay), false once the
    /// bus's overrun bound has passed since the first refusal.
    /// </summary>
    private bool WaitForQueue(int errno)
    {
        long now = Stopwatch.GetTimestamp();
        if (!_waitingForQueue)
        {
            _waitingForQueue = true;
            _blockedSince = now;
            // Nothing more is taken from the bus meanwhile: its back-pressure holds the senders.
            _epoll.Modify(_member.PollFd, BusToken, 0);
        }
        TimeSpan left = _member.Bus.OverrunAfter - Stopwatch.GetElapsedTime(_blockedSince, now);
        if (left <= TimeSpan.Zero) return false;
        bool writable = errno == Errno.EAGAIN;
        _retryTimer.Arm(writable ? left : (left < QueueFullRetry ? left : QueueFullRetry));
        if (writable != _waitingForWritable)
        {
            _waitingForWritable = writable;
            WatchFarSide();
        }
        return true;
    }

    private void StopWaitingForQueue()
    {
        if (!_waitingForQueue) return;
        _waitingForQueue = false;
        _retryTimer.Disarm();
        _retryTimer.Consume();
        if (_waitingForWritable)
        {
            _waitingForWritable = false;
            WatchFarSide();
        }
        _epoll.Modify(_member.PollFd, BusToken, Libc.EPOLLIN);
    }

    private protected override void ReadFarSide() => ReadSocket();

    /// <summary>Frames from the interface onto the bus until the socket is empty or the bus has no room.</summary>
    private void ReadSocket()
    {
        while (!_waitingForRoom)
        {
            int errno = _socket.Receive(_buffer, out int count);
            if (errno is Errno.ENETDOWN or Errno.ENODEV or Errno.ENXIO)
            {
                // The kernel reports the link going down (or away) once, as a socket error.
                GoDown(errno);
                return;
            }
            if (errno != 0)
            {
                Counters.ReceiveFailed();
                _log.LogDebug("bridge {Bridge}: receive on {Interface} failed: {Error}", _spec, _spec.Interface, Errno.Name(errno));
                return;
            }
            if (count == 0) return;
            Counters.ReceiveOverflowsNow(_overflowsBefore + _socket.ReceiveQueueOverflows);
            if (_down) GoUp();
            _toBusStart = 0;
            _toBusCount = 0;
            for (int i = 0; i < count; i++)
            {
                // No error classes are asked for (CAN_RAW_ERR_FILTER 0); skipped should one come anyway.
                if ((_buffer.CanId(i) & Libc.CAN_ERR_FLAG) != 0) continue;
                ReadOnlySpan<byte> wire = _buffer.Frame(i);
                ref CanFrame frame = ref _toBus[_toBusCount++];
                frame = default;
                wire.CopyTo(MemoryMarshal.AsBytes(new Span<CanFrame>(ref frame)));
                // 16-byte reads are struct can_frame: byte 5 is padding there, not FD flags.
                if (wire.Length == Libc.CANFD_MTU) frame.Flags |= CanFrame.CANFD_FDF;
                else frame.Flags = 0;
            }
            if (!DeliverPending() || count < _buffer.Capacity) return;
        }
    }

    /// <summary>The socket's events: readable unless the bus has no room, writable while a send waits for it.</summary>
    private protected override void WatchFarSide() =>
        _epoll.Modify(_socket.Fd, SocketToken, (_waitingForRoom ? 0 : Libc.EPOLLIN) | (_waitingForWritable ? Libc.EPOLLOUT : 0));

    /// <summary>The interface went down or away: logged once, the frames held for it dropped, and
    /// its link looked at until it is back.</summary>
    private void GoDown(int errno)
    {
        if (!_down)
        {
            Volatile.Write(ref _down, true);
            Counters.WentDown();
            _log.LogWarning("bridge {Bridge}: {Interface} is down ({Error}): frames from the bus are dropped and counted as interface-down until it is back",
                _spec, _spec.Interface, Errno.Name(errno));
            _linkTimer.Arm(LinkCheckInterval);
        }
        _queueStuck = false;
        if (_fromBusCount > 0) Drop(SocketCanDrop.InterfaceDown, _fromBusCount);
        StopWaitingForQueue();
    }

    /// <summary>The link timer, while down: back when the interface is up and running again; one
    /// created again (a new index) gets a new socket.</summary>
    private void CheckLink()
    {
        if (!_down) return;
        if (!CanSocket.TryGetLinkState(_spec.Interface, out int index, out bool up) || !up)
        {
            _linkTimer.Arm(LinkCheckInterval);
            return;
        }
        if (index != _socket.InterfaceIndex)
        {
            CanSocket replacement;
            try
            {
                replacement = Open(_spec.Interface);
            }
            catch (Exception e) when (e is IOException or SyscallException)
            {
                _log.LogDebug("bridge {Bridge}: reopening {Interface} failed: {Error}", _spec, _spec.Interface, e.Message);
                _linkTimer.Arm(LinkCheckInterval);
                return;
            }
            _epoll.Remove(_socket.Fd);
            _overflowsBefore += _socket.ReceiveQueueOverflows;
            _socket.Dispose();
            _socket = replacement;
            _epoll.Add(_socket.Fd, SocketToken, _waitingForRoom ? 0 : Libc.EPOLLIN);
        }
        GoUp();
    }

    private void GoUp()
    {
        Volatile.Write(ref _down, false);
        _linkTimer.Disarm();
        _linkTimer.Consume();
        _log.LogInformation("bridge {Bridge}: {Interface} is back ({Carries}): bridging again", _spec, _spec.Interface, Carries(_socket));
    }
}
