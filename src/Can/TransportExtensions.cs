using VhostDeviceCan.Can.Faults;

namespace VhostDeviceCan.Can;

public static class TransportExtensions
{
    /// <summary>The virtual-bus membership behind <paramref name="transport"/>, looking through the
    /// fault layer every daemon device has in front of its transport; null for a host interface.</summary>
    public static VirtualCanBusMember? AsBusMember(this ICanTransport transport) =>
        (transport is FaultInjectingTransport faults ? faults.Inner : transport) as VirtualCanBusMember;
}
