namespace VhostDeviceCan.Can;

/// <summary>
/// The built-in CAN bus: devices of one process attached to the same bus hear each other's
/// frames with no host vcan, no root and no kernel module (DESIGN.md "Beyond the reference").
/// </summary>
/// <remarks>
/// A frame reaches every member but its sender, in the sender's order. Transmission never
/// blocks and takes no lock: the sender copies its frames into each other member's bounded
/// inbox (<see cref="FrameRing"/>) and writes each woken member's eventfd once per batch. A full
/// inbox loses the frame for that member only, counted in <see cref="VirtualCanBusMember.Dropped"/>,
/// as a real controller whose receive FIFO overflows. Joining and leaving take a lock and
/// publish a new immutable member array, so a sender works on one consistent snapshot.
/// </remarks>
public sealed class VirtualCanBus
{
    public const int DefaultInboxCapacity = 1024;

    private static readonly Lock s_registryLock = new();
    private static readonly Dictionary<string, VirtualCanBus> s_registry = new(StringComparer.Ordinal);

    private readonly Lock _membershipLock = new();
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

    /// <summary>Copies <paramref name="frames"/> into every inbox but the sender's. Lock-free, allocation-free.</summary>
    internal void Publish(VirtualCanBusMember sender, ReadOnlySpan<CanFrame> frames)
    {
        // Acquire: pairs with the release in Join / Leave.
        var members = Volatile.Read(ref _members);
        foreach (var member in members)
        {
            if (!ReferenceEquals(member, sender)) member.Deliver(frames);
        }
    }

    public override string ToString() => $"vbus:{Name} ({MemberCount} members)";
}
