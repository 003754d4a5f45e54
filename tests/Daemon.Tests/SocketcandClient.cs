using System.Net;
using System.Net.Sockets;
using System.Text;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>A bare TCP client of the socketcand bridge: writes text, reads elements as they arrive,
/// with whatever precedes each '&lt;' kept so the exact bytes can be checked.</summary>
internal sealed class SocketcandClient : IDisposable
{
    private readonly Socket _socket;
    private readonly StringBuilder _received = new();
    private readonly byte[] _buffer = new byte[4096];

    public SocketcandClient(int port, int? receiveBuffer = null)
    {
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        // Before connecting, so that the window offered to the server is small from the start.
        if (receiveBuffer is int size) _socket.ReceiveBufferSize = size;
        _socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
        _socket.ReceiveTimeout = (int)Traffic.Patience.TotalMilliseconds;
    }

    /// <summary>Connected, greeted, the bus opened and RAW mode on.</summary>
    public static SocketcandClient Raw(int port, string bus = "default")
    {
        var client = new SocketcandClient(port);
        Assert.Equal("< hi >", client.ReadElement());
        client.Write($"< open {bus} >");
        Assert.Equal("< ok >", client.ReadElement());
        client.Write("< rawmode >");
        Assert.Equal("< ok >", client.ReadElement());
        return client;
    }

    public void Write(string text) => _socket.Send(Encoding.ASCII.GetBytes(text));

    public void Write(byte[] bytes) => _socket.Send(bytes);

    /// <summary>The next element with the bytes before it since the previous one.</summary>
    public string ReadElement()
    {
        while (true)
        {
            string text = _received.ToString();
            int end = text.IndexOf('>', StringComparison.Ordinal);
            if (end >= 0)
            {
                _received.Remove(0, end + 1);
                return text[..(end + 1)];
            }
            int read = _socket.Receive(_buffer);
            if (read == 0) throw new EndOfStreamException($"closed by the server; unparsed: '{text}'");
            _received.Append(Encoding.ASCII.GetString(_buffer, 0, read));
        }
    }

    /// <summary>True once the server closed the connection (within <see cref="Traffic.Patience"/>), after any bytes still unread.</summary>
    public bool Closed()
    {
        try
        {
            while (_socket.Receive(_buffer) > 0)
            {
            }
            return true;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return true;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
        {
            return false;
        }
    }

    public void Dispose() => _socket.Dispose();
}
