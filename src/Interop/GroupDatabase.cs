namespace VhostDeviceCan.Interop;

/// <summary>The system's groups (/etc/group, or whatever NSS is configured to ask).</summary>
public static class GroupDatabase
{
    /// <summary>The id of group <paramref name="name"/>; false when no such group exists or the
    /// lookup failed (<paramref name="problem"/> says which).</summary>
    // SAFETY: getgrnam_r writes the group entry into the local struct and its strings into the
    // pinned buffer of the length it is given; only gr_gid is read back, before the buffer is freed.
    public static unsafe bool TryGetId(string name, out uint gid, out string? problem)
    {
        gid = 0;
        problem = null;
        // Grown on ERANGE: a group with thousands of members needs more than the usual 1 KiB.
        for (int size = 4096; size <= 1 << 24; size *= 4)
        {
            byte[] buffer = new byte[size];
            Libc.Group entry = default;
            Libc.Group* result = null;
            int errno;
            // SAFETY: the buffer stays pinned for the call, which writes at most size bytes into it.
            fixed (byte* bytes = buffer) errno = Libc.getgrnam_r(name, &entry, bytes, (nuint)size, &result);
            if (errno == Errno.ERANGE) continue;
            if (errno != 0 && errno != Errno.ENOENT)
            {
                problem = Errno.Format($"getgrnam_r({name})", errno);
                return false;
            }
            if (result is null)
            {
                problem = $"no group named '{name}'";
                return false;
            }
            gid = entry.Gid;
            return true;
        }
        problem = $"group '{name}' has an entry too large to read";
        return false;
    }
}
