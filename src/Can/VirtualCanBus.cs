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
public sealed class VirtualCanBus : IDisposable
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

    private readonly TimedWire? _wire;

    /// <summary>
    /// A bus outside the registry (tests, embedding). Devices that must meet use <see cref="Get"/>.
    /// With <paramref name="timing"/> the bus is timed: frames take their wire time and contend
    /// for the bus by identifier (<see cref="TimedWire"/>); without, it is as fast as the machine.
    /// </summary>
    public VirtualCanBus(string name, BusTiming? timing = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
        Timing = timing;
        if (timing is { } t) _wire = new TimedWire(this, t);
    }

    public string Name { get; }

    /// <summary>The bit rates of a timed bus; null for a bus as fast as the machine. Fixed at creation.</summary>
    public BusTiming? Timing { get; }

    /// <summary>The wire of a timed bus, null otherwise.</summary>
    internal TimedWire? Wire => _wire;

    /// <summary>Timed bus, tests: sees each frame leave the wire with its bus-clock offer, start and end times.</summary>
    internal WireObserver? WireObserver
    {
        set => _wire!.Observer = value;
    }

    /// <summary>Timed bus: the wire time of every frame delivered since the bus was created. Zero when untimed.</summary>
    public TimeSpan BusyTime => _wire?.BusyTime ?? TimeSpan.Zero;

    /// <summary>Timed bus: frames that went over the wire. Zero when untimed.</summary>
    public long WireFrames => _wire?.Frames ?? 0;

    /// <summary>Timed bus: the share of the last whole second the wire was busy, 0 to 1. Zero when untimed.</summary>
    public double LoadLastSecond => _wire?.LoadLastSecond ?? 0;

    /// <summary>Timed bus: the share of the time since the bus was created that the wire was busy, 0 to 1.</summary>
    public double LoadSinceStart => _wire?.LoadSinceStart ?? 0;

    /// <summary>The members as of now (an immutable snapshot).</summary>
    internal VirtualCanBusMember[] Members => Volatile.Read(ref _members);

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
    /// The share of time the bus spends carrying frames, from 0 to 1: on a timed bus its load over
    /// the last whole second (<see cref="LoadLastSecond"/>); null on an untimed bus (frames take no
    /// time on it), so there is no load to report. The metrics endpoint exposes it as
    /// <c>vhost_device_can_bus_load_ratio</c> only when it is not null, never as a made-up value.
    /// </summary>
    public double? BusLoad => _wire?.LoadLastSecond;

    /// <summary>Members currently joined.</summary>
    public int MemberCount => Volatile.Read(ref _members).Length;

    /// <summary>
    /// The process-wide bus called <paramref name="name"/>, created on first use, timed when
    /// <paramref name="timing"/> is given. Buses stay registered for the life of the process (an
    /// empty bus costs a few bytes, a timed one also a sleeping thread), so a device that
    /// reconnects later meets the same bus. Asking for a bus with other timing than it was created
    /// with is an <see cref="ArgumentException"/>; asking without timing takes it as it is.
    /// </summary>
    public static VirtualCanBus Get(string name, BusTiming? timing = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        lock (s_registryLock)
        {
            if (!s_registry.TryGetValue(name, out var bus))
            {
                bus = new VirtualCanBus(name, timing);
                s_registry.Add(name, bus);
            }
            else if (timing is not null && bus.Timing != timing)
            {
                throw new ArgumentException($"vbus:{name} already runs {(bus.Timing is { } t ? t.ToString() : "untimed")}, not {timing}");
            }
            return bus;
        }
    }

    /// <summary>
    /// Attaches a new member with an inbox of <paramref name="inboxCapacity"/> frames and, on a
    /// timed bus, a transmit queue of <paramref name="txQueueCapacity"/> (both powers of two). Any
    /// thread; the member hears frames sent after this returns.
    /// </summary>
    public VirtualCanBusMember Join(int inboxCapacity = DefaultInboxCapacity, int txQueueCapacity = VirtualCanBusMember.DefaultTxQueueCapacity)
    {
        var member = new VirtualCanBusMember(this, inboxCapacity, txQueueCapacity);
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
    /// As <see cref="Publish"/>, to one member only (<paramref name="target"/>): frames a host node
    /// plays into one guest, which arrive as if its bus had carried them, with the same
    /// back-pressure and overrun bound; no other member hears them. The timed wire is bypassed.
    /// </summary>
    internal int PublishTo(VirtualCanBusMember sender, VirtualCanBusMember target, ReadOnlySpan<CanFrame> frames)
    {
        lock (_publishLock)
        {
            int room = frames.Length;
            if (!target.IsOverrun)
            {
                int free = target.FreeSpace;
                if (free > 0) target.NoteRoom();
                if (free < room && (free > 0 || !target.CheckOverrun(Stopwatch.GetTimestamp(), _overrunTicks, out _))) room = free;
            }
            if (room > 0) target.Deliver(frames[..room]);
            if (room < frames.Length) BlockSender(sender, new ReadOnlySpan<VirtualCanBusMember>(in target));
            return room;
        }
    }

    /// <summary>
    /// Publish lock held: arms the sender's retry for the earliest deadline of the full members,
    /// then asks each to report its drain, which re-arms the retry for at once. The order matters:
    /// a drain reported after the deadline was armed must not be overwritten by it.
    /// </summary>
    private void BlockSender(VirtualCanBusMember sender, ReadOnlySpan<VirtualCanBusMember> members)
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

    /// <summary>
    /// The wire thread of a timed bus: delivers one frame to every member but its sender, or
    /// nothing when a member that is not overrun has no room. Then <paramref name="retryAt"/> is
    /// when to try again: that member's overrun deadline, or <paramref name="now"/> when room
    /// appeared meanwhile; a drain before then kicks the wire (<see cref="WakeBlockedSenders"/>).
    /// </summary>
    internal bool PublishFromWire(VirtualCanBusMember sender, in CanFrame frame, long now, out long retryAt)
    {
        lock (_publishLock)
        {
            var members = Volatile.Read(ref _members);
            retryAt = long.MaxValue;
            foreach (var member in members)
            {
                if (ReferenceEquals(member, sender) || member.IsOverrun) continue;
                if (member.FreeSpace > 0)
                {
                    member.NoteRoom();
                    continue;
                }
                if (member.CheckOverrun(now, _overrunTicks, out long deadline)) continue;
                retryAt = Math.Min(retryAt, deadline);
            }
            if (retryAt != long.MaxValue)
            {
                foreach (var member in members)
                {
                    if (ReferenceEquals(member, sender) || member.IsOverrun || member.FreeSpace > 0) continue;
                    if (member.WaitForRoom()) retryAt = now;
                }
                return false;
            }
            var one = new ReadOnlySpan<CanFrame>(in frame);
            foreach (var member in members)
            {
                if (!ReferenceEquals(member, sender)) member.Deliver(one);
            }
            return true;
        }
    }

    /// <summary>Any thread: a member drained or left; every sender waiting for room retries.</summary>
    internal void WakeBlockedSenders()
    {
        foreach (var member in Volatile.Read(ref _members)) member.Unblock();
        _wire?.Kick();
    }

    /// <summary>Stops a timed bus's wire thread (a bus made for a test); members must have left.
    /// Registered buses live as long as the process.</summary>
    public void Dispose() => _wire?.Dispose();

    public override string ToString() => Timing is { } timing
        ? $"vbus:{Name},{timing} ({MemberCount} members)"
        : $"vbus:{Name} ({MemberCount} members)";
}
