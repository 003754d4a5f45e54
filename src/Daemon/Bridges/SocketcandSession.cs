using System.Net.Sockets;
using VhostDeviceCan.Can;
using VhostDeviceCan.Can.Socketcand;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>The state of one socketcand client (docs/spec/socketcand.md §2).</summary>
internal enum SocketcandMode
{
    NoBus,
    Bcm,
    Raw,
}

/// <summary>
/// One client connection of a <see cref="SocketcandBridge"/>: its socket, its own bus member once
/// it opened the bus, the bytes read and not yet parsed, and the bytes waiting to be written.
/// Used by the bridge's thread only.
/// </summary>
internal sealed class SocketcandSession
{
    /// <summary>Bytes queued towards the client at most: about a bus inbox of frames
    /// (1024 × ~45 bytes). Beyond it frames for this client are dropped, never waited for.</summary>
    public const int OutputCapacity = 64 * 1024;

    public SocketcandSession(int slot, int number, Socket socket, string peer)
    {
        Slot = slot;
        Number = number;
        Socket = socket;
        Peer = peer;
        Fd = (int)socket.Handle;
        AcceptedAt = Environment.TickCount64;
    }

    public int Slot { get; }
    /// <summary>The session's number since the bridge started, for the log.</summary>
    public int Number { get; }
    public Socket Socket { get; }
    public int Fd { get; }
    public string Peer { get; }
    public long AcceptedAt { get; }
    public SocketcandMode Mode { get; set; }
    public VirtualCanBusMember? Member { get; set; }

    // From the client: bytes read, of which the first InputLength are not yet parsed.
    public byte[] Input { get; } = new byte[SocketcandFormat.MaxElementLength];
    public int InputLength { get; set; }

    /// <summary>A frame parsed from the client that the bus had no room for; the socket is not
    /// read (nor the input parsed further) until it is on the bus.</summary>
    public CanFrame Pending;
    public bool WaitingForRoom { get; set; }

    // Towards the client: bytes [OutputStart, OutputEnd) wait for the socket.
    private readonly byte[] _output = new byte[OutputCapacity];
    public int OutputStart { get; private set; }
    public int OutputEnd { get; private set; }
    public bool HasOutput => OutputEnd > OutputStart;
    /// <summary>Whether EPOLLOUT is being watched (output is waiting).</summary>
    public bool WatchingWrite { get; set; }
    /// <summary>Frames were dropped for this client: logged once per session.</summary>
    public bool ReportedSlow { get; set; }

    /// <summary>Room for <paramref name="length"/> more bytes at the end, moving the waiting bytes to
    /// the front if that makes it; empty when even that does not.</summary>
    public Span<byte> Reserve(int length)
    {
        if (OutputEnd + length > _output.Length && OutputStart > 0)
        {
            _output.AsSpan(OutputStart, OutputEnd - OutputStart).CopyTo(_output);
            OutputEnd -= OutputStart;
            OutputStart = 0;
        }
        return OutputEnd + length <= _output.Length ? _output.AsSpan(OutputEnd, length) : [];
    }

    public void Commit(int length) => OutputEnd += length;

    /// <summary>Queues a whole reply; false when it does not fit.</summary>
    public bool Queue(ReadOnlySpan<byte> reply)
    {
        Span<byte> room = Reserve(reply.Length);
        if (room.IsEmpty) return false;
        reply.CopyTo(room);
        Commit(reply.Length);
        return true;
    }

    /// <summary>Writes what waits; true unless the connection failed.</summary>
    public bool Flush()
    {
        while (HasOutput)
        {
            int sent = Socket.Send(_output.AsSpan(OutputStart, OutputEnd - OutputStart), SocketFlags.None, out SocketError error);
            if (error == SocketError.WouldBlock) return true;
            if (error != SocketError.Success) return false;
            OutputStart += sent;
        }
        OutputStart = OutputEnd = 0;
        return true;
    }

    public override string ToString() => $"session {Number} from {Peer}";
}
