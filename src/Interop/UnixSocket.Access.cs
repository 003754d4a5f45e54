using System.Text;

namespace VhostDeviceCan.Interop;

public sealed partial class UnixSocket
{
    private const string StagedName = "socket";

    /// <summary>
    /// Listens on <paramref name="path"/> with the socket file's mode and group set to
    /// <paramref name="access"/>, without the file ever being reachable with other permissions.
    /// </summary>
    /// <remarks>
    /// bind() creates the file with the process's umask; a chmod at the final path afterwards
    /// leaves a window in which a process the owner never meant to admit connects (a connection,
    /// once accepted into the backlog, outlives any later chmod). So the socket is bound inside a
    /// fresh directory of mode 0700 beside the target, which nobody but this user (and root) can
    /// enter, given its group and mode there, already listening, and only then moved into place:
    /// rename with RENAME_NOREPLACE is one atomic step that never replaces whatever may have
    /// appeared at the path meanwhile (the caller has already ruled out a live socket there). On a
    /// file system without RENAME_NOREPLACE a hard link does the same. The directory is on the
    /// target's file system, so the move never crosses one, and it is removed on every path.
    /// All steps inside it go through its fd, so nothing can swap the directory under them.
    /// </remarks>
    public static UnixSocket Listen(string path, SocketFileAccess access, int backlog = 1)
    {
        string fullPath = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(fullPath) ?? "/";
        string staging = CreatePrivateDirectory(Path.Combine(directory, "." + Path.GetFileName(fullPath) + ".XXXXXX"));
        FileDescriptor? stagingFd = null;
        UnixSocket? socket = null;
        bool staged = false;
        try
        {
            stagingFd = FileDescriptor.Check(Libc.open(staging, Libc.O_PATH | Libc.O_CLOEXEC, 0), $"open({staging})");
            string stagedPath = staging + "/" + StagedName;
            // A sockaddr_un holds 107 path bytes; a longer staging path is reached through the fd.
            string bindPath = Encoding.UTF8.GetByteCount(stagedPath) <= 107
                ? stagedPath
                : $"/proc/self/fd/{stagingFd.Value}/{StagedName}";
            socket = Listen(bindPath, backlog);
            staged = true;
            if (access.GroupId is { } gid
                && Libc.fchownat(stagingFd.Value, StagedName, uint.MaxValue, gid, Libc.AT_SYMLINK_NOFOLLOW) < 0)
            {
                int errno = Errno.Last;
                if (errno == Errno.EPERM)
                    throw new IOException(Errno.Format($"chown({path}, group {gid})", errno) + "; only root or a member of the group may give a file to it");
                throw new SyscallException($"chown({path}, group {gid})", errno);
            }
            if (Libc.fchmodat(stagingFd.Value, StagedName, access.Mode, 0) < 0) throw SyscallException.FromLast($"chmod({path})");
            MoveIntoPlace(stagingFd.Value, path);
            return socket;
        }
        catch
        {
            socket?.Dispose();
            throw;
        }
        finally
        {
            // After a hard link the staged name is the socket's second name; it goes either way.
            if (staged) Libc.unlinkat(stagingFd!.Value, StagedName, 0);
            stagingFd?.Dispose();
            Libc.unlinkat(Libc.AT_FDCWD, staging, Libc.AT_REMOVEDIR);
        }
    }

    private static void MoveIntoPlace(int stagingFd, string path)
    {
        if (Libc.renameat2(stagingFd, StagedName, Libc.AT_FDCWD, path, Libc.RENAME_NOREPLACE) == 0) return;
        int errno = Errno.Last;
        if (errno == Errno.EINVAL)
        {
            // The file system does not know RENAME_NOREPLACE; link(2) never replaces either.
            if (Libc.linkat(stagingFd, StagedName, Libc.AT_FDCWD, path, 0) == 0) return;
            errno = Errno.Last;
        }
        if (errno == Errno.EEXIST)
            throw new IOException($"{path} appeared while its socket was being set up; it is left as it is");
        throw new SyscallException($"rename(socket into {path})", errno);
    }

    /// <summary>mkdtemp: a new directory of mode 0700 named after <paramref name="template"/>, whose
    /// last six characters are XXXXXX; returns its path.</summary>
    private static unsafe string CreatePrivateDirectory(string template)
    {
        byte[] bytes = new byte[Encoding.UTF8.GetByteCount(template) + 1];
        Encoding.UTF8.GetBytes(template, bytes);
        // SAFETY: mkdtemp rewrites the six X bytes in place inside the pinned, zero-terminated array.
        fixed (byte* name = bytes)
        {
            if (Libc.mkdtemp(name) is null) throw SyscallException.FromLast($"mkdtemp({template})");
        }
        return Encoding.UTF8.GetString(bytes, 0, bytes.Length - 1);
    }
}
