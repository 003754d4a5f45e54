using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Can;
using VhostDeviceCan.Can.Cannelloni;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>Frames both ways over an open connection (docs/spec/cannelloni.md §6).</summary>
public sealed partial class CannelloniTcpBridge
{
    /// <summary>Everything the bus has, encoded for the peer, or dropped and counted while no peer is up.</summary>
    private protected override void DrainBus()
    {
        int received;
        do
        {
            received = _member.Receive(_fromBus, _outcomes, out _);
            if (_link != Link.Up)
            {
                if (received > 0) Counters.DroppedWithoutPeer(received);
                continue;
            }
            int queued = 0;
            foreach (ref readonly CanFrame frame in _fromBus.AsSpan(0, received))
            {
                if (Append(in frame)) queued++;
            }
            Counters.FramesSent(queued);
            if (queued < received) SendBufferFull(received - queued);
        }
        while (received == _fromBus.Length);
        if (_link == Link.Up) Flush();
    }

    /// <summary>Whole frames only: a frame that does not fit is dropped, so the stream stays framed.</summary>
    private bool Append(in CanFrame frame)
    {
        int size = CannelloniFormat.EncodedSize(in frame);
        if (_outgoingEnd + size > _outgoing.Length)
        {
            if (_outgoingStart == 0) return false;
            _outgoing.AsSpan(_outgoingStart, _outgoingEnd - _outgoingStart).CopyTo(_outgoing);
            _outgoingEnd -= _outgoingStart;
            _outgoingStart = 0;
            if (_outgoingEnd + size > _outgoing.Length) return false;
        }
        _outgoingEnd += CannelloniFormat.WriteFrame(in frame, _outgoing.AsSpan(_outgoingEnd));
        return true;
    }

    private void SendBufferFull(int frames)
    {
        if (Counters.SendDropped == 0)
            _log.LogWarning("bridge {Bridge}: the peer does not take frames as fast as the bus sends them; frames are dropped and counted", _spec);
        Counters.SendFailed(frames);
    }

    /// <summary>As much as the socket takes now; the rest waits for EPOLLOUT.</summary>
    private void Flush()
    {
        if (_connection is null || _link == Link.Connecting) return;
        while (_outgoingStart < _outgoingEnd)
        {
            int sent = _connection.Send(_outgoing.AsSpan(_outgoingStart, _outgoingEnd - _outgoingStart), SocketFlags.None, out SocketError error);
            if (error == SocketError.WouldBlock) break;
            if (error != SocketError.Success)
            {
                Close($"send failed ({error})", false);
                return;
            }
            _outgoingStart += sent;
        }
        if (_outgoingStart == _outgoingEnd) _outgoingStart = _outgoingEnd = 0;
        Watch(Interest());
    }

    private protected override void ReadFarSide() => ReadConnection();

    /// <summary>Reads and delivers until the socket is empty, the bus has no room or the connection ends;
    /// a bounded number of reads per wake-up, so the bus side is served between them.</summary>
    private void ReadConnection()
    {
        for (int reads = 0; reads < ReadsPerWakeUp && !_waitingForRoom && _connection is not null; reads++)
        {
            int received = _connection.Receive(_reader.FreeSpace, SocketFlags.None, out SocketError error);
            if (error == SocketError.WouldBlock) return;
            if (error != SocketError.Success)
            {
                Counters.ReceiveFailed();
                Close($"receive failed ({error})", false);
                return;
            }
            if (received == 0)
            {
                Close("the peer closed the connection", false);
                return;
            }
            _reader.Commit(received);
            DeliverPending();
        }
    }

    /// <summary>The next frames of what was read, while connected.</summary>
    private protected override void DecodeMore()
    {
        if (_connection is not null) Decode();
    }

    /// <summary>Up to <see cref="FramesPerCall"/> frames of what was read. A wrong handshake or an
    /// impossible length ends the connection: the stream cannot be framed past it.</summary>
    private void Decode()
    {
        _toBusStart = 0;
        while (_toBusCount < _toBus.Length)
        {
            var error = _reader.Next(out _toBus[_toBusCount]);
            if (_link == Link.Handshaking && _reader.HandshakeDone) HandshakeDone();
            if (error == CannelloniError.None)
            {
                _toBusCount++;
                continue;
            }
            if (error == CannelloniError.Truncated) return;
            Counters.MalformedInput(error);
            Close(error == CannelloniError.WrongHandshake ? "wrong handshake (not a cannelloni TCP peer)" : "impossible frame length",
                Counters.Malformed(error) == 1);
            return;
        }
    }

    private protected override void WatchFarSide()
    {
        if (_connection is not null && _link != Link.Connecting) Watch(Interest());
    }
}
