using VhostDeviceCan.Can;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon;

/// <summary>Opens the transport a --can-devices entry names.</summary>
internal static class TransportFactory
{
    public static ICanTransport Open(DeviceSpec spec) => spec.Kind switch
    {
        DeviceKind.VirtualBus => JoinVirtualBus(spec),
        _ => OpenSocketCan(spec.Name),
    };

    private static VirtualCanBusMember JoinVirtualBus(DeviceSpec spec)
    {
        // Every entry of a bus carries its timing (DeviceSpec.ShareBusSettings), so the first
        // device to open it creates it timed or not, once and for all.
        var bus = VirtualCanBus.Get(spec.Name, spec.Timing);
        // Entries naming one bus agree on its bound (checked with the options); entries that give none keep it.
        if (spec.OverrunAfter is { } bound) bus.OverrunAfter = bound;
        return bus.Join();
    }

    /// <summary>Every failure names the system call and its errno; the two a user meets first
    /// add, after a semicolon, what to do.</summary>
    private static SocketCanTransport OpenSocketCan(string name)
    {
        try
        {
            return SocketCanTransport.Open(name);
        }
        catch (SyscallException e)
        {
            throw Explain(e);
        }
    }

    /// <summary>A failure to open a CAN socket, as one line for the user: no AF_CAN and no such
    /// interface say what to do after a semicolon; anything else stays as it is.</summary>
    internal static Exception Explain(SyscallException e) => e.ErrorNumber switch
    {
        Errno.EAFNOSUPPORT => new IOException($"{e.Message}; this kernel has no AF_CAN support "
            + "(load the can and can-raw modules), or use vbus:NAME for the built-in virtual bus", e),
        Errno.ENODEV => new IOException($"{e.Message}; no such CAN interface", e),
        _ => e,
    };
}
