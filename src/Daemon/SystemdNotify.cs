using System.Text;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon;

/// <summary>sd_notify(3) "READY=1" for Type=notify services, without libsystemd: one datagram to
/// $NOTIFY_SOCKET once every socket listens. Does nothing outside systemd.</summary>
internal static class SystemdNotify
{
    // SAFETY: the path goes into the local address's 108-byte buffer through a span of exactly that
    // size (GetBytes throws rather than overrun it), and connect reads no more than that struct.
    public static unsafe void Ready()
    {
        string? path = Environment.GetEnvironmentVariable("NOTIFY_SOCKET");
        if (string.IsNullOrEmpty(path) || path.Length >= 108) return;
        int fd = Libc.socket(Libc.AF_UNIX, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0) return;
        try
        {
            var address = new Libc.SockAddrUn { Family = Libc.AF_UNIX };
            var name = new Span<byte>(address.Path, 108);
            Encoding.UTF8.GetBytes(path, name);
            // A leading '@' names an abstract socket: the kernel wants a zero byte there.
            if (path[0] == '@') name[0] = 0;
            uint length = (uint)(sizeof(ushort) + Encoding.UTF8.GetByteCount(path));
            if (Libc.connect(fd, &address, length) < 0) return;
            ReadOnlySpan<byte> message = "READY=1"u8;
            // SAFETY: message is a UTF-8 literal in the binary's static data; write reads exactly message.Length bytes of it.
            fixed (byte* bytes = message) Libc.write(fd, bytes, (nuint)message.Length);
        }
        finally
        {
            Libc.close(fd);
        }
    }
}
