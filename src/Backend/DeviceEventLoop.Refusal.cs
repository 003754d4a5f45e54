using Microsoft.Extensions.Logging;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Backend;

/// <summary>
/// One front-end at a time: a connection that comes while one is attached is accepted and closed
/// as soon as it sends its first message, so that it learns the socket is busy (its request sees
/// the connection closed) instead of waiting unanswered. Only then is it known to be a front-end,
/// worth a warning; one that closes without a word was a probe (another back-end checking whether
/// the socket is served) and gets a debug line. At most one such connection is held: a newer one
/// closes the older.
/// </summary>
public sealed partial class DeviceEventLoop
{
    private UnixSocket? _refused;
    private string? _refusedPeer;

    private void RefuseBusy()
    {
        UnixSocket? newcomer;
        try
        {
            newcomer = _listener.Accept();
        }
        catch (SyscallException e)
        {
            Logger.LogError("{Name}: {Reason}", Name, e.Message);
            return;
        }
        if (newcomer is null) return;
        if (_refused is not null) CloseRefused();
        _refused = newcomer;
        _refusedPeer = newcomer.DescribePeer();
        _fds.Add(newcomer.Fd, _refusedToken, Libc.EPOLLIN | Libc.EPOLLRDHUP);
    }

    /// <summary>The held connection sent something or hung up (every event it is watched for
    /// means one of the two): either way its time is over.</summary>
    private void OnRefusedReadable()
    {
        if (_refused is not null) CloseRefused();
    }

    private void CloseRefused()
    {
        UnixSocket refused = _refused!;
        _refused = null;
        if (HasUnreadBytes(refused))
            Logger.LogWarning("{Name}: refused a second front-end ({Peer}): one is already attached", Name, _refusedPeer);
        else
            Logger.LogDebug("{Name}: a connection from {Peer} closed without a message while a front-end is attached (probe?)", Name, _refusedPeer);
        _fds.Remove(refused.Fd);
        refused.Dispose();
    }

    private static bool HasUnreadBytes(UnixSocket socket)
    {
        try
        {
            return socket.UnreadBytes() > 0;
        }
        catch (SyscallException)
        {
            return false;
        }
    }

    private void DisposeRefused()
    {
        if (_refused is null) return;
        _fds.Remove(_refused.Fd);
        _refused.Dispose();
        _refused = null;
    }
}
