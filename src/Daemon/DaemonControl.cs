using Microsoft.Extensions.Logging;
using VhostDeviceCan.Backend;
using VhostDeviceCan.Capture;
using VhostDeviceCan.Control;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon;

/// <summary>Opens the control socket (--control) with the guest sockets' access and stale-file rules.</summary>
internal static class DaemonControl
{
    /// <summary>The version status reports, as --version prints it.</summary>
    public static string Version => typeof(DaemonControl).Assembly.GetName().Version?.ToString(3) ?? "?";

    /// <summary>Null without a control path, or after writing one line on stderr when it cannot listen.</summary>
    public static ControlServer? Start(DaemonOptions options, IReadOnlyList<ControlGuest> guests, CaptureHub captures, Func<byte[]> metrics, ILoggerFactory loggers,
        IReadOnlyList<Device.Metrics.IBridgeReport> bridges)
    {
        if (options.ControlPath is not { } path) return null;
        ILogger log = loggers.CreateLogger("vhost-device-can");
        UnixSocket listener;
        try
        {
            DeviceServer.RemoveStaleSocket(path, "--control");
            listener = options.SocketAccess is { } access
                ? UnixSocket.Listen(path, access, ControlBacklog)
                : UnixSocket.Listen(path, ControlBacklog);
        }
        catch (Exception e) when (e is SyscallException or IOException or ArgumentException)
        {
            StartupError.Write($"control socket: {e.Message}");
            return null;
        }
        log.LogInformation("control socket on {Path} (vhost-can-ctl -C {Path} status)", path, path);
        return ControlServer.Serve(listener, path, ControlCommands.Standard(), new ControlContext(guests, Version, log, captures, bridges, metrics), log);
    }

    /// <summary>Connections the kernel queues while the control thread is busy with a request.</summary>
    private const int ControlBacklog = 16;
}
