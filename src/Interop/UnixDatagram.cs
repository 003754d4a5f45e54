using System.Text;

namespace VhostDeviceCan.Interop;

/// <summary>
/// One-shot datagrams to a Unix datagram socket named by path, the way sd_notify(3) reaches
/// systemd's $NOTIFY_SOCKET. Returns errno instead of throwing: a caller that only informs a
/// supervisor decides itself whether a failure matters.
/// </summary>
public static unsafe class UnixDatagram
{
    /// <summary>
    /// Sends <paramref name="message"/> as one datagram to <paramref name="path"/>; a leading '@'
    /// names a socket in the abstract namespace. Returns 0, or the errno of the step that failed
    /// (<see cref="Errno.EINVAL"/> for a path that does not fit <c>sun_path</c>).
    /// </summary>
    public static int Send(string path, ReadOnlySpan<byte> message)
    {
        int pathLength = Encoding.UTF8.GetByteCount(path);
        if (pathLength == 0 || pathLength >= 108) return Errno.EINVAL;
        var address = new Libc.SockAddrUn { Family = Libc.AF_UNIX };
        var name = new Span<byte>(address.Path, 108);
        Encoding.UTF8.GetBytes(path, name);
        // An abstract name starts with a zero byte and is exactly as long as the address length
        // says, so the length must not cover the rest of sun_path.
        if (path[0] == '@') name[0] = 0;
        uint addressLength = (uint)(sizeof(ushort) + pathLength);

        int fd = Libc.socket(Libc.AF_UNIX, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0) return Errno.Last;
        try
        {
            if (Libc.connect(fd, &address, addressLength) < 0) return Errno.Last;
            nint written;
            // SAFETY: message is pinned for the call and write reads exactly its length.
            fixed (byte* bytes = message) written = Libc.write(fd, bytes, (nuint)message.Length);
            return written < 0 ? Errno.Last : 0;
        }
        finally
        {
            Libc.close(fd);
        }
    }
}
