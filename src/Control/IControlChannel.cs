namespace VhostDeviceCan.Control;

/// <summary>
/// The connection a request came on, as a command may use it: to carry a stream of bytes after
/// its reply line (<c>capture ... -w -</c>) instead of further replies.
/// </summary>
public interface IControlChannel
{
    /// <summary>A stream over this connection. Nothing changes until <see cref="StreamAfterReply"/>:
    /// a command that fails after creating it just drops it.</summary>
    ControlStream CreateStream();

    /// <summary>
    /// After this request's reply, the connection carries <paramref name="stream"/>'s bytes and
    /// takes no more requests. The control thread calls <paramref name="end"/> once, when the
    /// client closes the connection or the server stops, after aborting the stream; it closes the
    /// connection itself when <paramref name="isRunning"/> turns false (the producer ended).
    /// </summary>
    void StreamAfterReply(ControlStream stream, Func<bool> isRunning, Action end);
}

/// <summary>A connection that carries a stream: what ends it, and how to know it ended.</summary>
internal sealed record ControlStreaming(ControlStream Stream, Func<bool> IsRunning, Action End);
