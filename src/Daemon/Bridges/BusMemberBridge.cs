using Microsoft.Extensions.Logging;
using VhostDeviceCan.Can;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>
/// A bridge that is one member of its bus, a member that is no guest, read on the bridge's thread:
/// the member's readiness has token <see cref="BusToken"/>, its room once full
/// <see cref="RoomToken"/> (watched only while frames wait for room). Frames from the far side wait
/// here, in <see cref="_toBus"/>, until the bus takes them; meanwhile the far side is not read, so
/// the bus's back-pressure reaches it.
/// </summary>
public abstract class BusMemberBridge<TSpec, TCounters> : BridgeThread<TSpec, TCounters>
    where TSpec : BridgeSpec
    where TCounters : BridgeFrameCounters
{
    private protected const ulong BusToken = 1, RoomToken = 2;
    private protected const int FramesPerCall = 64;

    private protected readonly VirtualCanBusMember _member;

    // From the far side: frames read or decoded and not yet on the bus.
    private protected readonly CanFrame[] _toBus = new CanFrame[FramesPerCall];
    private readonly TxTag[] _tags = new TxTag[FramesPerCall];
    private protected int _toBusStart;
    private protected int _toBusCount;
    private protected bool _waitingForRoom;

    private protected BusMemberBridge(TSpec spec, TCounters counters, VirtualCanBusMember member, ILogger log, string threadName)
        : base(spec, counters, log, threadName, eventsPerWait: 8)
    {
        _member = member;
        _epoll.Add(member.PollFd, BusToken);
    }

    private protected sealed override void HandleEvent(ulong token, uint events)
    {
        if (token == BusToken) DrainBus();
        else if (token != RoomToken) HandleFarSide(token, events);
        // The bus has room again: what waits goes on, and the far side is read again once all went.
        else if (DeliverPending()) ReadFarSide();
    }

    /// <summary>Everything the bus has for the far side (or as much as it takes now).</summary>
    private protected abstract void DrainBus();

    /// <summary>Frames from the far side onto the bus, until it has none or the bus has no room.</summary>
    private protected abstract void ReadFarSide();

    /// <summary>One ready descriptor of the far side's or the kind's own timers.</summary>
    private protected abstract void HandleFarSide(ulong token, uint events);

    /// <summary>Joins the bus, makes the bridge with the member and starts its thread; when it
    /// cannot be made, leaves the bus and closes what was <paramref name="opened"/> for it.</summary>
    private protected static TBridge JoinAndStart<TBridge>(TSpec spec, IDisposable? opened, Func<VirtualCanBusMember, TBridge> create)
        where TBridge : BusMemberBridge<TSpec, TCounters>
    {
        VirtualCanBusMember? member = null;
        return Started(() =>
        {
            member?.Dispose();
            opened?.Dispose();
        }, () => create(member = VirtualCanBus.Get(spec.Bus).Join()));
    }

    /// <summary>
    /// Puts the waiting frames on the bus, and then those <see cref="DecodeMore"/> adds, until none
    /// is left; false when the bus has no room: the rest waits here and the member's room is
    /// watched. Frames the bus refuses (the member down) are dropped and counted, with those
    /// <see cref="AbandonUndecoded"/> gives up.
    /// </summary>
    private protected bool DeliverPending()
    {
        while (true)
        {
            if (_toBusCount == 0) DecodeMore();
            if (_toBusCount == 0) break;
            int sent = _member.TransmitBatch(_toBus.AsSpan(_toBusStart, _toBusCount), _tags, out TransmitStatus status);
            Counters.FramesToBus(sent);
            _toBusStart += sent;
            _toBusCount -= sent;
            if (status == TransmitStatus.WouldBlock)
            {
                WaitForRoom(true);
                return false;
            }
            if (status != TransmitStatus.Sent)
            {
                Counters.RefusedByBus(_toBusCount + AbandonUndecoded());
                _toBusCount = 0;
            }
        }
        WaitForRoom(false);
        return true;
    }

    /// <summary>Fills <see cref="_toBus"/> from <see cref="_toBusStart"/> 0 with what was read and
    /// not decoded yet; nothing where the far side's frames come whole.</summary>
    private protected virtual void DecodeMore()
    {
    }

    /// <summary>The bus refused: input not decoded yet is dropped with the rest; how many frames.</summary>
    private protected virtual int AbandonUndecoded() => 0;

    /// <summary>While the bus has no room the far side is not read (its readiness is not watched,
    /// so the loop does not spin) and the member's room is.</summary>
    private protected void WaitForRoom(bool waiting)
    {
        if (waiting == _waitingForRoom) return;
        _waitingForRoom = waiting;
        if (waiting) _epoll.Add(_member.WritePollFd, RoomToken, _member.WritePollEvents);
        else _epoll.Remove(_member.WritePollFd);
        WatchFarSide();
    }

    /// <summary>Sets the far side's epoll events from <see cref="_waitingForRoom"/> and the kind's own state.</summary>
    private protected abstract void WatchFarSide();

    // The member belongs to this thread (VirtualCanBusMember.Dispose).
    private protected override void ThreadEnding() => _member.Dispose();
}
