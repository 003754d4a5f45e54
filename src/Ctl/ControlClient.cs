using VhostDeviceCan.CommandLine;
using System.Buffers;
using System.Text.Json;
using VhostDeviceCan.Control;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Ctl;

/// <summary>One connection to a daemon's control socket: a request line out, its reply line back.</summary>
internal sealed class ControlClient : IDisposable
{
    public static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(10);

    private readonly UnixSocket _socket;
    private readonly string _path;
    private long _nextId = 1;
    private byte[] _afterReply = [];

    private ControlClient(UnixSocket socket, string path)
    {
        _socket = socket;
        _path = path;
    }

    public static ControlClient Connect(string path)
    {
        UnixSocket socket;
        try
        {
            socket = UnixSocket.Connect(path);
        }
        catch (SyscallException e)
        {
            string advice = e.ErrorNumber switch
            {
                Errno.ENOENT => "; is vhost-device-can running, and is this its control socket (-s PATH gives PATH.ctl)?",
                Errno.ECONNREFUSED => "; nothing listens on it (a daemon that was killed?)",
                _ => "",
            };
            throw new CommandFailure(ExitStatus.Unreachable, e.Message + advice);
        }
        catch (ArgumentException e)
        {
            throw new CommandFailure(ExitStatus.Usage, e.Message);
        }
        socket.SetTimeouts(ReplyTimeout);
        return new ControlClient(socket, path);
    }

    /// <summary>Sends <c>{"v":1,"id":N,"cmd":COMMAND, ...fields}</c> and returns the reply line.</summary>
    public byte[] Call(string command, Action<Utf8JsonWriter> fields) => CallRaw(Request(command, fields));

    /// <summary>
    /// As <see cref="Call"/>, with the open file <paramref name="fd"/> passed along (SCM_RIGHTS, with
    /// the request's first byte). <paramref name="wait"/>: the reply comes when the daemon's work
    /// ends, however long that takes (a replay), so there is no reply timeout.
    /// </summary>
    public byte[] CallWithFile(string command, Action<Utf8JsonWriter> fields, int fd, bool wait)
    {
        if (wait) _socket.SetTimeouts(TimeSpan.Zero);
        return CallRaw(Request(command, fields), fd);
    }

    private byte[] Request(string command, Action<Utf8JsonWriter> fields)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteNumber("v", ControlProtocol.Version);
            writer.WriteNumber("id", _nextId++);
            writer.WriteString("cmd", command);
            fields(writer);
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Sends one line as it is (a newline is added) and returns the reply line, newline removed.</summary>
    public byte[] CallRaw(ReadOnlySpan<byte> request, int fd = -1)
    {
        try
        {
            var line = new byte[request.Length + 1];
            request.CopyTo(line);
            line[^1] = (byte)'\n';
            try
            {
                if (fd >= 0) _socket.Send(line, [fd]);
                else _socket.Send(line);
            }
            catch (SyscallException e) when (e.ErrorNumber is Errno.EPIPE or Errno.ECONNRESET)
            {
                // A daemon that refuses the connection (every slot taken) answers and closes at
                // once, maybe before the request is sent: its answer is still waiting to be read.
                return ReadLine();
            }
            return ReadLine();
        }
        catch (SyscallException e) when (e.ErrorNumber == Errno.EAGAIN)
        {
            throw new CommandFailure(ExitStatus.ConnectionLost, $"{_path}: no reply within {ReplyTimeout.TotalSeconds:0} s");
        }
        catch (SyscallException e)
        {
            throw new CommandFailure(ExitStatus.ConnectionLost, $"{_path}: {e.Message}");
        }
    }

    private byte[] ReadLine()
    {
        var received = new ArrayBufferWriter<byte>(4096);
        Span<byte> chunk = stackalloc byte[4096];
        while (true)
        {
            int newline = received.WrittenSpan.IndexOf((byte)'\n');
            if (newline >= 0)
            {
                // What came after the reply is a stream's beginning (capture -w -), never a second reply.
                _afterReply = received.WrittenSpan[(newline + 1)..].ToArray();
                return received.WrittenSpan[..newline].ToArray();
            }
            // Replies are small; one that never ends is no reply of this protocol.
            if (received.WrittenCount > 64 * 1024 * 1024)
                throw new CommandFailure(ExitStatus.ConnectionLost, $"{_path}: the reply exceeds 64 MiB without a newline");
            int count = _socket.Receive(chunk, null);
            if (count == 0)
                throw new CommandFailure(ExitStatus.ConnectionLost, $"{_path}: the daemon closed the connection without a reply");
            received.Write(chunk[..count]);
        }
    }

    /// <summary>
    /// After a reply that turned the connection into a stream: copies everything the daemon sends
    /// to <paramref name="output"/>, flushing after each read so that a reader sees it as it comes,
    /// until the daemon ends the stream (false) or <paramref name="output"/> fails, its reader gone
    /// (true). Memory stays one buffer, however long the stream.
    /// </summary>
    public bool CopyStreamTo(Stream output)
    {
        try
        {
            output.Write(_afterReply);
            output.Flush();
            _afterReply = [];
            // A live capture of a quiet bus may say nothing for hours: no receive timeout.
            _socket.SetTimeouts(TimeSpan.Zero);
            var buffer = new byte[64 * 1024];
            while (true)
            {
                int count = _socket.Receive(buffer, null);
                if (count == 0) return false;
                output.Write(buffer, 0, count);
                output.Flush();
            }
        }
        catch (SyscallException e)
        {
            throw new CommandFailure(ExitStatus.ConnectionLost, $"{_path}: {e.Message}");
        }
        catch (IOException)
        {
            // Closing the connection (on dispose) is what tells the daemon to stop the capture.
            return true;
        }
    }

    public void Dispose() => _socket.Dispose();
}
