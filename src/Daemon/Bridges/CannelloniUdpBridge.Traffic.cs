using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Can;
using VhostDeviceCan.Can.Cannelloni;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon.Bridges;

public sealed partial class CannelloniUdpBridge
{
    /// <summary>Everything the bus has for the peer, into datagrams; a part-filled one waits for the
    /// batch timer, which runs only while something waits (docs/spec/cannelloni.md §4).</summary>
    private protected override void DrainBus()
    {
        int received;
        do
        {
            received = _member.Receive(_fromBus, _outcomes, out _);
            foreach (ref readonly CanFrame frame in _fromBus.AsSpan(0, received)) Append(in frame);
        }
        while (received == _fromBus.Length);
        if (_outgoingCount == 0 || _batchArmed) return;
        // A zero timeout would disarm the timer: nothing waits, the batch is what the bus had.
        if (BatchTimeout == TimeSpan.Zero)
        {
            Flush();
        }
        else
        {
            _batchTimer.Arm(BatchTimeout);
            _batchArmed = true;
        }
    }

    /// <summary>Adds a frame to the datagram; sends it first when the frame does not fit, and at
    /// once when another frame of this size would not fit (a full datagram never waits for the
    /// timer or for the next frame).</summary>
    private void Append(in CanFrame frame)
    {
        int size = CannelloniFormat.EncodedSize(in frame);
        if (_outgoingLength + size > _outgoing.Length) Flush();
        _outgoingLength += CannelloniFormat.WriteFrame(in frame, _outgoing.AsSpan(_outgoingLength));
        _outgoingCount++;
        if (_outgoingLength + size > _outgoing.Length) Flush();
    }

    /// <summary>Sends the datagram being filled. A full socket buffer drops it (counted): waiting
    /// would hold back the bus for a peer that may be gone.</summary>
    private void Flush()
    {
        if (_batchArmed)
        {
            _batchTimer.Disarm();
            _batchTimer.Consume();
            _batchArmed = false;
        }
        if (_outgoingCount == 0) return;
        CannelloniFormat.WriteHeader(_outgoing, _sequence++, (ushort)_outgoingCount);
        try
        {
            _socket.SendTo(_outgoing.AsSpan(0, _outgoingLength), SocketFlags.None, _peerAddress);
            Counters.DatagramOut(_outgoingCount);
        }
        catch (SocketException e)
        {
            if (Counters.SendDropped == 0)
                _log.LogWarning("bridge {Bridge}: cannot send to the peer ({Error}); frames are dropped and counted", _spec, e.SocketErrorCode);
            Counters.SendFailed(_outgoingCount);
        }
        _outgoingLength = CannelloniFormat.HeaderSize;
        _outgoingCount = 0;
    }

    private protected override void ReadFarSide() => ReadSocket();

    /// <summary>Datagrams from the socket until it is empty or the bus has no room.</summary>
    private void ReadSocket()
    {
        while (!_waitingForRoom && _socket.Poll(0, SelectMode.SelectRead))
        {
            int length;
            try
            {
                length = _socket.ReceiveFrom(_incoming, SocketFlags.None, _from);
            }
            catch (SocketException e) when (e.SocketErrorCode != SocketError.WouldBlock)
            {
                Counters.ReceiveFailed();
                _log.LogDebug("bridge {Bridge}: receive failed: {Error}", _spec, e.SocketErrorCode);
                continue;
            }
            catch (SocketException)
            {
                return;
            }
            Accept(length);
        }
    }

    private void Accept(int length)
    {
        if (!FromPeer())
        {
            if (Counters.Foreign == 0)
                _log.LogWarning("bridge {Bridge}: datagram from {Address}, which is not the peer: dropped (counted as foreign from now on)",
                    _spec, _spec.Peer.Create(_from));
            Counters.ForeignDatagram();
            return;
        }
        Counters.DatagramIn();
        var error = CannelloniFormat.ReadHeader(_incoming.AsSpan(0, length), out byte sequence, out int count);
        if (error != CannelloniError.None)
        {
            Counters.MalformedInput(error);
            return;
        }
        Heard(sequence);
        _incomingLength = length;
        _incomingOffset = CannelloniFormat.HeaderSize;
        _incomingRemaining = count;
        DeliverPending();
    }

    /// <summary>The next frames of the datagram being delivered.</summary>
    private protected override void DecodeMore() => Decode();

    /// <summary>The bus refused: the rest of the datagram is dropped too.</summary>
    private protected override int AbandonUndecoded()
    {
        int rest = _incomingRemaining;
        _incomingRemaining = 0;
        return rest;
    }

    /// <summary>Up to <see cref="FramesPerCall"/> frames of the current datagram; the first bad frame
    /// drops the rest of it; the frames before it stand (docs/spec/cannelloni.md §3).</summary>
    private void Decode()
    {
        _toBusStart = 0;
        ReadOnlySpan<byte> datagram = _incoming.AsSpan(0, _incomingLength);
        while (_toBusCount < _toBus.Length && _incomingRemaining > 0)
        {
            var error = CannelloniFormat.ReadFrame(datagram, ref _incomingOffset, out _toBus[_toBusCount]);
            if (error != CannelloniError.None)
            {
                Counters.MalformedInput(error);
                _incomingRemaining = 0;
                break;
            }
            _toBusCount++;
            _incomingRemaining--;
        }
    }

    private protected override void WatchFarSide() =>
        _epoll.Modify((int)_socket.Handle, SocketToken, _waitingForRoom ? 0 : Libc.EPOLLIN);

    /// <summary>Address and port both, stricter than cannelloni (docs/spec/cannelloni.md §3): the bytes of sockaddr_in's port and address (2..8), or
    /// sockaddr_in6's port (2..4) and address (8..24).</summary>
    private bool FromPeer()
    {
        ReadOnlySpan<byte> from = _from.Buffer.Span[.._from.Size];
        ReadOnlySpan<byte> peer = _peerAddress.Buffer.Span[.._peerAddress.Size];
        if (_from.Family != _peerAddress.Family) return false;
        if (_from.Family == System.Net.Sockets.AddressFamily.InterNetwork)
            return from.Length >= 8 && from[2..8].SequenceEqual(peer[2..8]);
        return from.Length >= 24 && from[2..4].SequenceEqual(peer[2..4]) && from[8..24].SequenceEqual(peer[8..24]);
    }

    /// <summary>A valid header from the peer: it is up, and a jump in its sequence numbers is counted.</summary>
    private void Heard(byte sequence)
    {
        _lastHeard = Environment.TickCount64;
        if (!_peerUp)
        {
            Volatile.Write(ref _peerUp, true);
            _log.LogInformation("bridge {Bridge}: peer up", _spec);
            _peerTimer.Arm(PeerTimeout);
        }
        else if (sequence != _expectedSequence)
        {
            Counters.SequenceGap((byte)(sequence - _expectedSequence));
        }
        _expectedSequence = (byte)(sequence + 1);
    }

    /// <summary>The peer timer: down if nothing came for <see cref="PeerTimeout"/>, else look again
    /// when that much has passed since the last datagram (no timer work per datagram).</summary>
    private void CheckPeer()
    {
        if (!_peerUp) return;
        long quiet = Environment.TickCount64 - _lastHeard;
        if (quiet >= (long)PeerTimeout.TotalMilliseconds)
        {
            Volatile.Write(ref _peerUp, false);
            _log.LogWarning("bridge {Bridge}: peer down: no datagram for {Seconds} s", _spec, PeerTimeout.TotalSeconds);
            return;
        }
        _peerTimer.Arm(PeerTimeout - TimeSpan.FromMilliseconds(quiet));
    }
}
