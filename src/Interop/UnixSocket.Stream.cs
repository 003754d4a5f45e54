namespace VhostDeviceCan.Interop;

/// <summary>The peer of a Unix socket as SO_PEERCRED reports it, with its process name from
/// /proc/PID/comm ("?" when it is gone or hidden).</summary>
public sealed record PeerIdentity(int Pid, uint Uid, uint Gid, string Command)
{
    public override string ToString() => $"pid {Pid} ({Command}), uid {Uid}, gid {Gid}";
}

public sealed partial class UnixSocket
{
    /// <summary>The peer's credentials and process name, or null when the kernel cannot say.</summary>
    public PeerIdentity? Identify()
    {
        if (Peer is not { Pid: > 0 } peer) return null;
        string command;
        try
        {
            command = File.ReadAllText($"/proc/{peer.Pid}/comm").Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            command = "?";
        }
        return new PeerIdentity(peer.Pid, peer.Uid, peer.Gid, command);
    }

    /// <summary>
    /// Sends what the socket takes without waiting: the number of bytes sent, 0 when its buffer is
    /// full. A server with many clients must never block on one that stopped reading.
    /// </summary>
    public int SendAvailable(ReadOnlySpan<byte> data) => SendSome(data, Libc.MSG_DONTWAIT);

    /// <summary>
    /// Sends what the socket takes, waiting for room at most as long as the send timeout
    /// (<see cref="SetSendTimeout"/>) of a blocking socket: the number of bytes sent, 0 when none
    /// could be sent in that time. A thread that must notice a request to stop while its reader
    /// is slow calls it in a loop.
    /// </summary>
    public int SendWaiting(ReadOnlySpan<byte> data) => SendSome(data, 0);

    // SAFETY: data stays pinned while send reads at most data.Length bytes of it.
    private unsafe int SendSome(ReadOnlySpan<byte> data, int flags)
    {
        fixed (byte* bytes = data)
        {
            while (true)
            {
                var iov = new Libc.IoVec { Base = bytes, Length = (nuint)data.Length };
                var message = new Libc.MsgHdr { Iov = &iov, IovLength = 1 };
                nint result = Libc.sendmsg(Fd, &message, Libc.MSG_NOSIGNAL | flags);
                if (result >= 0) return (int)result;
                int errno = Errno.Last;
                if (errno == Errno.EINTR) continue;
                if (errno == Errno.EAGAIN) return 0;
                throw new SyscallException("sendmsg", errno);
            }
        }
    }

    /// <summary>
    /// Receives what has arrived without waiting: the byte count, 0 at end of stream, -1 when
    /// nothing is there yet. File descriptors passed along are closed at once (a peer that has no
    /// business passing any cannot make them pile up); <paramref name="closedFds"/> says how many.
    /// </summary>
    public int ReceiveAvailable(Span<byte> buffer, out int closedFds)
    {
        using var fds = new ReceivedFds();
        closedFds = 0;
        try
        {
            int count = Receive(buffer, fds, waitAll: false, flags: Libc.MSG_DONTWAIT);
            closedFds = fds.Count;
            return count;
        }
        catch (SyscallException e) when (e.ErrorNumber == Errno.EAGAIN)
        {
            closedFds = fds.Count;
            return -1;
        }
    }

    /// <summary>As <see cref="ReceiveAvailable(Span{byte}, out int)"/>, keeping the fds passed along
    /// in <paramref name="fds"/> for the caller to take or close.</summary>
    public int ReceiveAvailable(Span<byte> buffer, ReceivedFds fds)
    {
        try
        {
            return Receive(buffer, fds, waitAll: false, flags: Libc.MSG_DONTWAIT);
        }
        catch (SyscallException e) when (e.ErrorNumber == Errno.EAGAIN)
        {
            return -1;
        }
    }
}
