using System.Net.Sockets;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Interop.Tests;

public class UnixDatagramTests
{
    [Fact]
    public void Datagram_reaches_a_socket_bound_to_a_path()
    {
        string path = Path.Combine(Path.GetTempPath(), $"vdc-notify-{Guid.NewGuid():N}"[..24]);
        using var receiver = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        receiver.Bind(new UnixDomainSocketEndPoint(path));
        try
        {
            Assert.Equal(0, UnixDatagram.Send(path, "READY=1"u8));
            Assert.Equal("READY=1"u8.ToArray(), ReceiveOne(receiver));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Leading_at_sign_names_an_abstract_socket_of_exactly_that_name()
    {
        string name = $"vdc-notify-{Guid.NewGuid():N}";
        using var receiver = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        // .NET spells an abstract name with a leading NUL; the length is exact, as systemd binds it.
        receiver.Bind(new UnixDomainSocketEndPoint("\0" + name));

        Assert.Equal(0, UnixDatagram.Send("@" + name, "READY=1"u8));
        Assert.Equal("READY=1"u8.ToArray(), ReceiveOne(receiver));
        // A longer address would name another socket: nobody listens there.
        Assert.Equal(Errno.ECONNREFUSED, UnixDatagram.Send("@" + name + "x", "READY=1"u8));
    }

    [Fact]
    public void Failures_are_returned_as_errno()
    {
        string missing = Path.Combine(Path.GetTempPath(), $"vdc-missing-{Guid.NewGuid():N}"[..24]);
        Assert.Equal(Errno.ENOENT, UnixDatagram.Send(missing, "READY=1"u8));
        Assert.Equal(Errno.EINVAL, UnixDatagram.Send("/" + new string('x', 120), "READY=1"u8));
        Assert.Equal(Errno.EINVAL, UnixDatagram.Send("", "READY=1"u8));
    }

    private static byte[] ReceiveOne(Socket receiver)
    {
        receiver.ReceiveTimeout = 5000;
        var buffer = new byte[64];
        int length = receiver.Receive(buffer);
        return buffer[..length];
    }
}
