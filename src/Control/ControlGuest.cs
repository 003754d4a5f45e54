using VhostDeviceCan.Backend;
using VhostDeviceCan.Can;
using VhostDeviceCan.Can.Faults;
using VhostDeviceCan.Device;

namespace VhostDeviceCan.Control;

/// <summary>
/// One guest as control commands see it: its socket, its device and the event loop that owns the
/// device. Read what is documented as readable from any thread (counters, state); change the
/// device only through <see cref="OnLoop"/>.
/// </summary>
public sealed class ControlGuest(int index, string socket, string deviceName, DeviceEventLoop loop, CanDevice device,
    FaultInjectingTransport? faults = null)
{
    /// <summary>How long a command waits for the guest's loop; a loop busy longer than this is stuck.</summary>
    public static readonly TimeSpan LoopTimeout = TimeSpan.FromSeconds(2);

    public int Index { get; } = index;

    /// <summary>The socket's path, or "fd N" for an inherited one without a path.</summary>
    public string Socket { get; } = socket;

    /// <summary>As --can-devices names it: <c>vbus:NAME</c> or a host interface.</summary>
    public string DeviceName { get; } = deviceName;

    public DeviceEventLoop Loop { get; } = loop;
    public CanDevice Device { get; } = device;

    /// <summary>The guest's attachment to a virtual bus, null on a host interface.</summary>
    public VirtualCanBusMember? BusMember => Device.Transport.AsBusMember();

    /// <summary>The guest's fault layer (safe to change from any thread), null when it has none.</summary>
    public FaultInjectingTransport? Faults { get; } = faults;

    /// <summary>
    /// Runs <paramref name="work"/> on the guest's event loop thread and returns its result. A loop
    /// that does not take it within <see cref="LoopTimeout"/> makes it a
    /// <see cref="ControlErrors.Timeout"/> error; the work never runs then.
    /// </summary>
    public T OnLoop<T>(Func<CanDevice, T> work)
    {
        try
        {
            return Loop.Invoke(() => work(Device), LoopTimeout);
        }
        catch (TimeoutException e)
        {
            throw new ControlException(ControlErrors.Timeout, e.Message);
        }
        catch (InvalidOperationException e) when (e.InnerException is ControlException inner)
        {
            throw new ControlException(inner.Code, inner.Message);
        }
        catch (InvalidOperationException e) when (e.InnerException is not null)
        {
            throw new ControlException(ControlErrors.Internal, $"guest {Index}: {e.Message}");
        }
    }
}
