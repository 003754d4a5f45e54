using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Can;
using VhostDeviceCan.Can.Socketcand;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon.Bridges;

public sealed partial class SocketcandBridge
{
    /// <summary>Reads a socket's worth per turn at most, so one busy client cannot starve the others
    /// (epoll reports the socket again while bytes remain).</summary>
    private const int ReadsPerTurn = 4;

    private void ReadClient(SocketcandSession session)
    {
        for (int turn = 0; turn < ReadsPerTurn && !session.WaitingForRoom; turn++)
        {
            int read = session.Socket.Receive(session.Input.AsSpan(session.InputLength), SocketFlags.None, out SocketError error);
            if (error == SocketError.WouldBlock) return;
            if (error != SocketError.Success || read == 0)
            {
                Close(session, error == SocketError.Success ? "the client closed the connection" : $"receive failed: {error}");
                return;
            }
            session.InputLength += read;
            if (!ParseInput(session)) return;
        }
    }

    /// <summary>Handles every complete element read (docs/spec/socketcand.md §1); stops at a frame the
    /// bus has no room for. False when the session was closed.</summary>
    private bool ParseInput(SocketcandSession session)
    {
        int consumed = 0;
        bool open = true;
        while (open && !session.WaitingForRoom)
        {
            ReadOnlySpan<byte> rest = session.Input.AsSpan(consumed, session.InputLength - consumed);
            if (!SocketcandFormat.FindElement(rest, out int start, out int end))
            {
                // Bytes before a '<' can never be part of an element: dropped, as socketcand does.
                consumed += start < 0 ? rest.Length : start;
                break;
            }
            consumed += end + 1;
            open = Handle(session, rest[(start + 1)..end]);
        }
        if (!open) return false;
        session.Input.AsSpan(consumed, session.InputLength - consumed).CopyTo(session.Input);
        session.InputLength -= consumed;
        if (session.InputLength == session.Input.Length && !session.WaitingForRoom)
        {
            Counters.ElementTooLong();
            Reply(session, "< error command too long >"u8);
            FlushOrClose(session);
            Close(session, $"an element longer than {SocketcandFormat.MaxElementLength} bytes");
            return false;
        }
        return FlushOrClose(session);
    }

    /// <summary>One element's inside, by state and command (docs/spec/socketcand.md §2). False when the session was closed.</summary>
    private bool Handle(SocketcandSession session, ReadOnlySpan<byte> inside)
    {
        SocketcandCommand command = SocketcandFormat.Classify(inside, out int at);
        if (session.Mode == SocketcandMode.NoBus)
        {
            if (command != SocketcandCommand.Open) return Unknown(session);
            SocketcandFormat.NextWord(inside, ref at, out Range name);
            bool more = SocketcandFormat.NextWord(inside, ref at, out _);
            if (more || !inside[name].SequenceEqual(_busName))
            {
                Reply(session, "< error could not open bus >"u8);
                FlushOrClose(session);
                Close(session, "it asked for a bus other than " + _spec.Bus);
                return false;
            }
            Join(session);
            return Reply(session, "< ok >"u8);
        }
        switch (command)
        {
            case SocketcandCommand.Send:
                return Send(session, inside, at);
            case SocketcandCommand.Echo:
                return Reply(session, "< echo >"u8);
            case SocketcandCommand.RawMode:
                session.Mode = SocketcandMode.Raw;
                return Reply(session, "< ok >"u8);
            case SocketcandCommand.BcmMode:
                session.Mode = SocketcandMode.Bcm;
                return Reply(session, "< ok >"u8);
            case SocketcandCommand.ControlMode:
            case SocketcandCommand.IsotpMode:
                Counters.UnknownCommand();
                return Reply(session, " < error mode not supported >"u8);
            case SocketcandCommand.BcmJob:
                Counters.UnknownCommand();
                return Reply(session, " < error command not supported >"u8);
            default:
                return Unknown(session);
        }
    }

    private bool Unknown(SocketcandSession session)
    {
        Counters.UnknownCommand();
        return Reply(session, " < error unknown command >"u8);
    }

    /// <summary>Queues a reply; a client that let even that much pile up unread is closed.</summary>
    private bool Reply(SocketcandSession session, ReadOnlySpan<byte> reply)
    {
        if (session.Queue(reply)) return true;
        Close(session, "it does not read its replies");
        return false;
    }

    /// <summary>The session becomes a member of the bus (docs/spec/socketcand.md §2: BCM mode).</summary>
    private void Join(SocketcandSession session)
    {
        var member = VirtualCanBus.Get(_spec.Bus).Join();
        session.Member = member;
        session.Mode = SocketcandMode.Bcm;
        _epoll.Add(member.PollFd, Token(session, BusKind));
        _log.LogInformation("bridge {Bridge}: {Session} opened the bus", _spec, session);
    }

    private bool Send(SocketcandSession session, ReadOnlySpan<byte> inside, int at)
    {
        if (SocketcandFormat.ParseSend(inside, at, out session.Pending) != SocketcandSendError.None)
        {
            Counters.BadSend();
            return Reply(session, " < error syntax error in send command >"u8);
        }
        TransmitPending(session);
        return true;
    }

    /// <summary>Puts the pending frame on the bus, or waits for room with the socket unwatched
    /// (the bus's back-pressure rule, as in the cannelloni bridge).</summary>
    private void TransmitPending(SocketcandSession session)
    {
        VirtualCanBusMember member = session.Member!;
        switch (member.Transmit(in session.Pending, default))
        {
            case TransmitStatus.Sent:
                Counters.FramesToBus(1);
                break;
            case TransmitStatus.WouldBlock:
                if (session.WaitingForRoom) return;
                session.WaitingForRoom = true;
                WatchSocket(session);
                _epoll.Add(member.WritePollFd, Token(session, RoomKind), member.WritePollEvents);
                return;
            default:
                Counters.RefusedByBus(1);
                break;
        }
        if (session.WaitingForRoom)
        {
            session.WaitingForRoom = false;
            _epoll.Remove(member.WritePollFd);
            WatchSocket(session);
        }
    }

    private void RetryPending(SocketcandSession session)
    {
        if (!session.WaitingForRoom) return;
        TransmitPending(session);
        // The rest of what was read, then the socket again (its readiness is level-triggered).
        if (!session.WaitingForRoom) ParseInput(session);
    }

    /// <summary>Everything the bus has for this client, formatted into its send queue while there is
    /// room (docs/spec/socketcand.md §4); the rest is dropped and counted, never waited for.</summary>
    private void DrainBus(SocketcandSession session)
    {
        VirtualCanBusMember member = session.Member!;
        long now = SocketcandFormat.UnixMicrosecondsNow();
        int received;
        do
        {
            received = member.Receive(_fromBus, _outcomes, out _);
            // Before RAW mode nothing was subscribed to: the frames are not for this client.
            if (session.Mode != SocketcandMode.Raw) continue;
            foreach (ref readonly CanFrame frame in _fromBus.AsSpan(0, received)) Forward(session, in frame, now);
        }
        while (received == _fromBus.Length);
        FlushOrClose(session);
    }

    private void Forward(SocketcandSession session, in CanFrame frame, long now)
    {
        if (frame.IsFd || frame.IsRemote || frame.IsError)
        {
            Counters.Drop(frame.IsFd ? SocketcandDrop.Fd : frame.IsRemote ? SocketcandDrop.Remote : SocketcandDrop.ErrorFrame);
            return;
        }
        Span<byte> room = session.Reserve(SocketcandFormat.MaxFrameLength);
        if (room.IsEmpty)
        {
            Counters.Drop(SocketcandDrop.SlowClient);
            if (!session.ReportedSlow)
                _log.LogWarning("bridge {Bridge}: {Session} does not read: frames for it are dropped and counted", _spec, session);
            session.ReportedSlow = true;
            return;
        }
        session.Commit(SocketcandFormat.WriteFrame(in frame, now, room));
        Counters.FramesSent(1);
    }
}
