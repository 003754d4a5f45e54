using System.Diagnostics;

namespace VhostDeviceCan.Can;

/// <summary>
/// The built-in CAN bus: devices of one process attached to the same bus hear each other's
/// frames with no host vcan, no root and no kernel module (DESIGN.md "Beyond the reference").
/// </summary>
/// <remarks>
/// A frame reaches every member but its sender, in the sender's order, and is lost for nobody
/// that takes frames: the sender copies its frames into each other member's bounded inbox
/// (<see cref="FrameRing"/>) and writes each woken member's eventfd once per batch. When a
/// member's inbox is full, the sender's transmission stops there with
/// <see cref="TransmitStatus.WouldBlock"/>, its frames stay in its guest's Txq (which slows the
/// guest's senders, as a busy bus does), and it retries when that member has drained to half.
/// A member that leaves its inbox full for <see cref="OverrunAfter"/> is overrun: the bus stops
/// waiting for it and drops its frames, counted in <see cref="VirtualCanBusMember.Dropped"/>,
/// until it has drained to half again. The receiving side never takes a lock; senders of one bus
/// take the publish lock for the copy, so a frame reaches all members or none. Joining and
/// leaving take another lock and publish a new immutable member array, so a sender works on one
/// consistent snapshot.
/// </remarks>
public sealed class VirtualCanBus
{
    public const int DefaultInboxCapacity = 1024;

    /// <summary>
    /// How long a full inbox may hold senders back before its member is overrun. Well above a
    /// guest's ordinary scheduling delays (a descheduled vCPU, a busy host: a few tens of
    /// milliseconds), so a guest that is merely slow loses nothing; short enough that a guest that
    /// takes nothing (no receive buffers, hung) stalls the others once, briefly, and then not again
    /// until it has drained.
    /// </summary>
    public static readonly TimeSpan DefaultOverrunAfter = TimeSpan.FromMilliseconds(100);

    private static readonly Lock s_registryLock = new();
    private static readonly Dictionary<string, VirtualCanBus> s_registry = new(StringComparer.Ordinal);

    private readonly Lock _membershipLock = new();
    private readonly Lock _publishLock = new();
    private long _overrunTicks = TicksOf(DefaultOverrunAfter);
    private VirtualCanBusMember[] _members = [];

    /// <summary>
    /// A bus outside the registry (tests, embedding). Devices that must meet use <see cref="Get"/>.
    /// </summary>
    public VirtualCanBus(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
    }

    public string Name { get; }

    /// <summary>See <see cref="DefaultOverrunAfter"/>. At least 1 ms; any thread, applies to the next wait.</summary>
    public TimeSpan OverrunAfter
    {
        get => TimeSpan.FromSeconds((double)Volatile.Read(ref _overrunTicks) / Stopwatch.Frequency);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.FromMilliseconds(1));
            Volatile.Write(ref _overrunTicks, TicksOf(value));
        }
    }

    private static long TicksOf(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

    /// <summary>
    /// The share of time the bus spends carrying frames, from 0 to 1, as a bus with a bit rate
    /// would measure it; null while the bus models no bit timing (frames take no time on it), so
    /// there is no load to report. The metrics endpoint exposes it as
    /// <c>vhost_device_can_bus_load_ratio</c> only when it is not null, never as a made-up value.
    /// </summary>
    public double? BusLoad => null;

    /// <summary>Members currently joined.</summary>
    public int MemberCount => Volatile.Read(ref _members).Length;

    /// <summary>
    /// The process-wide bus called <paramref name="name"/>, created on first use. Buses stay
    /// registered for the life of the process (an empty bus costs a few bytes), so a device that
    /// reconnects later meets the same bus.
    /// </summary>
    public static VirtualCanBus Get(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        lock (s_registryLock)
        {
            if (!s_registry.TryGetValue(name, out var bus))
            {
                bus = new VirtualCanBus(name);
                s_registry.Add(name, bus);
            }
            return bus;
        }
    }

    /// <summary>
    /// Attaches a new member with an inbox of <paramref name="inboxCapacity"/> frames (a power of
    /// two). Any thread; the member hears frames sent after this returns.
    /// </summary>
    public VirtualCanBusMember Join(int inboxCapacity = DefaultInboxCapacity)
    {
        var member = new VirtualCanBusMember(this, inboxCapacity);
        lock (_membershipLock)
        {
            var members = new VirtualCanBusMember[_members.Length + 1];
            _members.CopyTo(members, 0);
            members[^1] = member;
            // Release: the member is fully constructed before a sender can see it.
            Volatile.Write(ref _members, members);
        }
        return member;
    }

    /// <summary>
    /// Detaches a member. A sender still holding the previous snapshot may deliver to it once more;
    /// <see cref="VirtualCanBusMember"/> makes that harmless.
    /// </summary>
    internal void Leave(VirtualCanBusMember member)
    {
        lock (_membershipLock)
        {
            int index = Array.IndexOf(_members, member);
            if (index < 0) return;
            var members = new VirtualCanBusMember[_members.Length - 1];
            Array.Copy(_members, 0, members, 0, index);
            Array.Copy(_members, index + 1, members, index, _members.Length - index - 1);
            Volatile.Write(ref _members, members);
        }
    }

    /// <summary>
    /// Copies the first frames of <paramref name="frames"/> into every inbox but the sender's, as
    /// many as every member that is not overrun has room for; returns how many. Fewer than all
    /// means the sender is blocked: its write fd fires when the member that stopped it drains to
    /// half, or when that member has been full for <see cref="OverrunAfter"/> and is then overrun.
    /// Allocation-free. Senders take the publish lock, so room seen is room kept (receivers only
    /// ever add room) and a frame reaches all members or none.
    /// </summary>
    internal int Publish(VirtualCanBusMember sender, ReadOnlySpan<CanFrame> frames)
    {
        lock (_publishLock)
        {
            // Acquire: pairs with the release in Join / Leave.
            var members = Volatile.Read(ref _members);
            int room = frames.Length;
            long now = 0;
            foreach (var member in members)
            {
                if (ReferenceEquals(member, sender) || member.IsOverrun) continue;
                int free = member.FreeSpace;
                if (free > 0) member.NoteRoom();
                if (free >= room) continue;
                if (free == 0)
                {
                    if (now == 0) now = Stopwatch.GetTimestamp();
                    if (member.CheckOverrun(now, _overrunTicks, out _)) continue;
                }
                room = free;
            }
            if (room > 0)
            {
                ReadOnlySpan<CanFrame> delivered = frames[..room];
                foreach (var member in members)
                {
                    if (!ReferenceEquals(member, sender)) member.Deliver(delivered);
                }
            }
            if (room < frames.Length) BlockSender(sender, members);
            return room;
        }
    }

    /// <summary>
    /// Publish lock held: arms the sender's retry for the earliest deadline of the full members,
    /// then asks each to report its drain, which re-arms the retry for at once. The order matters:
    /// a drain reported after the deadline was armed must not be overwritten by it.
    /// </summary>
    private void BlockSender(VirtualCanBusMember sender, VirtualCanBusMember[] members)
    {
        long now = Stopwatch.GetTimestamp();
        long earliest = now;
        bool anyFull = false;
        foreach (var member in members)
        {
            if (ReferenceEquals(member, sender) || member.IsOverrun || member.FreeSpace > 0) continue;
            member.CheckOverrun(now, _overrunTicks, out long deadline);
            earliest = anyFull ? Math.Min(earliest, deadline) : deadline;
            anyFull = true;
        }
        sender.Block(Stopwatch.GetElapsedTime(now, Math.Max(earliest, now)));
        bool stillFull = false;
        foreach (var member in members)
        {
            if (ReferenceEquals(member, sender) || member.IsOverrun || member.FreeSpace > 0) continue;
            stillFull = true;
            if (member.WaitForRoom()) sender.Unblock();
        }
        // Every member drained meanwhile, or only partly full ones limited the batch.
        if (!stillFull) sender.Unblock();
    }

    /// <summary>Any thread: a member drained or left; every sender waiting for room retries.</summary>
    internal void WakeBlockedSenders()
    {
        foreach (var member in Volatile.Read(ref _members)) member.Unblock();
    }

    public override string ToString() => $"vbus:{Name} ({MemberCount} members)";
}
