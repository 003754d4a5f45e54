using System.Globalization;

namespace VhostDeviceCan.Device.Metrics;

/// <summary>
/// One guest's device as the metrics see it: the labels that name it and the live objects its
/// values are read from. Build one per guest when the daemon starts; reading it from any thread
/// is safe while the device runs (see <see cref="CanDevice"/>'s observed state).
/// </summary>
public sealed class GuestMetricsSource
{
    /// <param name="guest">The guest's index (socket i), the <c>guest</c> label.</param>
    /// <param name="socket">The socket's path, the <c>socket</c> label.</param>
    /// <param name="device">The guest's device; its transport's name is the <c>bus</c> label.</param>
    /// <param name="isConnected">Whether a front-end is connected now; any thread.</param>
    public GuestMetricsSource(int guest, string socket, CanDevice device, Func<bool> isConnected)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(guest);
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(isConnected);
        Guest = guest;
        GuestLabel = guest.ToString(CultureInfo.InvariantCulture);
        Socket = socket;
        Device = device;
        Bus = device.Transport.Name;
        IsConnected = isConnected;
    }

    public int Guest { get; }
    public string GuestLabel { get; }
    public string Socket { get; }

    /// <summary><c>vbus:NAME</c> or the host interface (<c>vcan0</c>).</summary>
    public string Bus { get; }

    public CanDevice Device { get; }
    public Func<bool> IsConnected { get; }
}
