using VhostDeviceCan.Can;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon;

/// <summary>Opens the transport a --can-devices entry names.</summary>
internal static class TransportFactory
{
    public static ICanTransport Open(DeviceSpec spec) => spec.Kind switch
    {
        DeviceKind.VirtualBus => VirtualCanBus.Get(spec.Name).Join(),
        _ => OpenSocketCan(spec.Name),
    };

    /// <summary>The two failures a user meets first get a sentence saying what to do; the rest
    /// keep the system call and errno.</summary>
    private static SocketCanTransport OpenSocketCan(string name)
    {
        try
        {
            return SocketCanTransport.Open(name);
        }
        catch (SyscallException e) when (e.ErrorNumber == Errno.EAFNOSUPPORT)
        {
            throw new IOException($"cannot open CAN interface {name}: this kernel has no AF_CAN support "
                + "(load the can and can-raw modules), or use vbus:NAME for the built-in virtual bus", e);
        }
        catch (SyscallException e) when (e.ErrorNumber == Errno.ENODEV)
        {
            throw new IOException($"cannot open CAN interface {name}: no such CAN interface ({e.Message})", e);
        }
    }
}
