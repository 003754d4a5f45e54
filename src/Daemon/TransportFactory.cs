using VhostDeviceCan.Can;

namespace VhostDeviceCan.Daemon;

/// <summary>Opens the transport a --can-devices entry names.</summary>
internal static class TransportFactory
{
    public static ICanTransport Open(DeviceSpec spec) => spec.Kind switch
    {
        DeviceKind.VirtualBus => VirtualCanBus.Get(spec.Name).Join(),
        _ => SocketCanTransport.Open(spec.Name),
    };
}
