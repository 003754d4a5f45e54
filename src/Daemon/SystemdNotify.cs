using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon;

/// <summary>sd_notify(3) "READY=1" for Type=notify services, without libsystemd: one datagram to
/// $NOTIFY_SOCKET once every socket listens. Does nothing outside systemd; a failure to notify is
/// systemd's to report (it times the start out), so the daemon carries on serving.</summary>
internal static class SystemdNotify
{
    public static void Ready()
    {
        string? path = Environment.GetEnvironmentVariable("NOTIFY_SOCKET");
        if (string.IsNullOrEmpty(path)) return;
        UnixDatagram.Send(path, "READY=1"u8);
    }
}
