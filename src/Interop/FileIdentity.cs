namespace VhostDeviceCan.Interop;

/// <summary>What identifies an open file: its device and inode numbers (st_dev, st_ino). systemd
/// names the stream it connected to the journal this way in $JOURNAL_STREAM.</summary>
public readonly record struct FileIdentity(ulong Device, ulong Inode)
{
    /// <summary>The file behind <paramref name="fd"/>; null when fstat fails (a closed fd).</summary>
    // SAFETY: fstat writes one StatBuffer into the local it is given.
    public static unsafe FileIdentity? Of(int fd)
    {
        Libc.StatBuffer stat = default;
        if (Libc.fstat(fd, &stat) < 0) return null;
        return new FileIdentity(stat.Device, stat.Inode);
    }
}
