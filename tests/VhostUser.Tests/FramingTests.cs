using VhostDeviceCan.Interop;

namespace VhostDeviceCan.VhostUser.Tests;

/// <summary><see cref="VhostUserConnection"/> over a real socket pair (vhost-user.rst "Message format").</summary>
public sealed class FramingTests : IDisposable
{
    private readonly UnixSocket _senderSocket;
    private readonly VhostUserConnection _sender;
    private readonly VhostUserConnection _receiver;
    private readonly byte[] _payload = new byte[MessageHeader.MaxPayload];
    private readonly ReceivedFds _fds = new();

    public FramingTests()
    {
        var (a, b) = UnixSocket.Pair();
        _senderSocket = a;
        _sender = new VhostUserConnection(a);
        _receiver = new VhostUserConnection(b);
    }

    public void Dispose()
    {
        _fds.Dispose();
        _sender.Dispose();
        _receiver.Dispose();
    }

    private static byte[] Header(uint request, uint flags, uint size)
    {
        var bytes = new byte[MessageHeader.Length];
        Payload.Write(bytes, new MessageHeader(request, flags, size));
        return bytes;
    }

    private VhostUserException ReceiveFails() =>
        Assert.Throws<VhostUserException>(() => _receiver.Receive(out _, _payload, _fds));

    [Fact]
    public void Message_with_fds_round_trips()
    {
        using var kick = new EventFd();
        using var call = new EventFd();
        byte[] payload = [.. Enumerable.Range(1, 40).Select(i => (byte)i)];

        _sender.Send((uint)FrontendRequest.SET_VRING_ADDR, 0x9, payload, [kick.Fd, call.Fd]);

        Assert.True(_receiver.Receive(out var header, _payload, _fds));
        Assert.Equal(new MessageHeader((uint)FrontendRequest.SET_VRING_ADDR, 0x9, 40), header);
        Assert.Equal(payload, _payload[..40]);
        Assert.Equal(2, _fds.Count);
        using var receivedCall = new EventFd(_fds.Take(1));
        receivedCall.Signal(7);
        Assert.Equal(7UL, call.Consume());
        Assert.Equal(0UL, kick.Consume());
    }

    [Fact]
    public void Consecutive_messages_keep_their_own_fds()
    {
        using var first = new EventFd();
        using var second = new EventFd();
        _sender.Send(12, 0x1, new byte[8], [first.Fd]);
        _sender.Send(13, 0x1, new byte[8], [second.Fd]);

        Assert.True(_receiver.Receive(out var header, _payload, _fds));
        Assert.Equal(12u, header.Request);
        Assert.Equal(1, _fds.Count);
        _fds.Dispose();
        Assert.True(_receiver.Receive(out header, _payload, _fds));
        Assert.Equal(13u, header.Request);
        using var received = new EventFd(_fds.Take(0));
        received.Signal();
        Assert.Equal(1UL, second.Consume());
        Assert.Equal(0UL, first.Consume());
    }

    [Fact]
    public void Received_fds_are_closed_when_the_receiver_disposes_them()
    {
        using var source = new EventFd();
        int before = FileDescriptor.CountOpen();
        _sender.Send(5, 0x1, new byte[8], [source.Fd, source.Fd, source.Fd]);
        Assert.True(_receiver.Receive(out _, _payload, _fds));
        Assert.Equal(before + 3, FileDescriptor.CountOpen());
        _fds.Dispose();
        Assert.Equal(before, FileDescriptor.CountOpen());
    }

    [Fact]
    public void Clean_close_between_messages_is_not_an_error()
    {
        _sender.Dispose();
        Assert.False(_receiver.Receive(out _, _payload, _fds));
    }

    [Theory]
    [InlineData(MessageHeader.MaxPayload + 1)]
    [InlineData(uint.MaxValue)]
    public void Oversized_payload_is_refused_and_drops_the_connection(uint size)
    {
        _senderSocket.Send(Header(1, 0x1, size));
        var error = ReceiveFails();
        Assert.Equal(VhostUserError.OversizedMessage, error.Error);
        Assert.True(error.DropConnection);
    }

    [Fact]
    public void Payload_larger_than_the_callers_buffer_is_refused()
    {
        _sender.Send(1, 0x1, new byte[16]);
        var error = Assert.Throws<VhostUserException>(() => _receiver.Receive(out _, new byte[8], _fds));
        Assert.Equal(VhostUserError.OversizedMessage, error.Error);
        Assert.True(error.DropConnection);
    }

    [Fact]
    public void Sender_refuses_an_oversized_payload()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _sender.Send(1, 0x1, new byte[MessageHeader.MaxPayload + 1]));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(11)]
    public void Truncated_header_drops_the_connection(int bytes)
    {
        _senderSocket.Send(Header(1, 0x1, 0).AsSpan(0, bytes));
        _sender.Dispose();
        var error = ReceiveFails();
        Assert.Equal(VhostUserError.TruncatedMessage, error.Error);
        Assert.True(error.DropConnection);
    }

    [Theory]
    [InlineData(8, 0)]
    [InlineData(16, 4)]
    [InlineData(40, 39)]
    public void Truncated_payload_drops_the_connection(uint size, int sent)
    {
        _senderSocket.Send(Header(9, 0x1, size));
        if (sent > 0) _senderSocket.Send(new byte[sent]);
        _sender.Dispose();
        var error = ReceiveFails();
        Assert.Equal(VhostUserError.TruncatedMessage, error.Error);
        Assert.True(error.DropConnection);
    }

    [Fact]
    public void Fds_inside_the_payload_are_refused_and_closed()
    {
        using var source = new EventFd();
        int before = FileDescriptor.CountOpen();
        // The header goes alone; the fds ride with the payload's first byte instead.
        _senderSocket.Send(Header(12, 0x1, 8));
        _senderSocket.Send(new byte[8], [source.Fd, source.Fd]);

        var error = ReceiveFails();
        Assert.Equal(VhostUserError.WrongFdCount, error.Error);
        Assert.True(error.DropConnection);
        _fds.Dispose();
        Assert.Equal(before, FileDescriptor.CountOpen());
    }

    [Theory]
    [InlineData(0x0u)]
    [InlineData(0x2u)]
    [InlineData(0x11u)]
    [InlineData(0x101u)]
    public void Invalid_header_flags_drop_the_connection(uint flags)
    {
        _senderSocket.Send(Header(1, flags, 0));
        var error = ReceiveFails();
        Assert.Equal(VhostUserError.InvalidHeader, error.Error);
        Assert.True(error.DropConnection);
    }

    [Fact]
    public void Replies_carry_flags_exactly_0x5_and_the_request_code()
    {
        _sender.SendReply((uint)FrontendRequest.GET_FEATURES, 0x1_4000_0000UL);
        _sender.SendReply((uint)FrontendRequest.GET_VRING_BASE, new byte[] { 1, 0, 0, 0, 9, 0, 0, 0 });

        Assert.True(_receiver.Receive(out var header, _payload, _fds));
        Assert.Equal(new MessageHeader((uint)FrontendRequest.GET_FEATURES, 0x5, 8), header);
        Assert.Equal(0x1_4000_0000UL, Payload.Read<U64Payload>(_payload).Value);
        Assert.True(_receiver.Receive(out header, _payload, _fds));
        Assert.Equal(new MessageHeader((uint)FrontendRequest.GET_VRING_BASE, 0x5, 8), header);
        Assert.Equal(new VringState(1, 9), Payload.Read<VringState>(_payload));
        Assert.Equal(0, _fds.Count);
    }
}
