using VhostDeviceCan.Interop;

namespace VhostDeviceCan.VhostUser.Tests;

/// <summary>Both ends of the back-end request channel over a real socket pair (vhost-user.rst "Back-end communication").</summary>
public sealed class BackendChannelTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    private readonly BackendChannel _backend;
    private readonly BackendRequestListener _frontend;
    private readonly List<MessageHeader> _seen = [];

    public BackendChannelTests()
    {
        var (front, back) = UnixSocket.Pair();
        _backend = new BackendChannel(back) { ReplyTimeout = Wait };
        _frontend = new BackendRequestListener(front);
        _frontend.RequestReceived += header => { lock (_seen) _seen.Add(header); };
    }

    public void Dispose()
    {
        _frontend.Dispose();
        _backend.Dispose();
    }

    [Fact]
    public void Config_change_without_need_reply_has_flags_0x1_and_gets_no_answer()
    {
        Assert.True(_backend.SendConfigChange(needReply: false));
        Assert.True(_frontend.WaitForConfigChange(Wait));
        Assert.Equal(new MessageHeader((uint)BackendRequest.CONFIG_CHANGE_MSG, 0x1, 0), _frontend.LastRequest);
        Assert.Equal(1, _frontend.ConfigChangeCount);
        // A second round trip proves nothing stray was left in the stream: its ack is the next message.
        Assert.True(_backend.SendConfigChange(needReply: true));
        Assert.Equal(2, _frontend.ConfigChangeCount);
    }

    [Fact]
    public void Config_change_with_need_reply_waits_for_the_ack()
    {
        Assert.True(_backend.SendConfigChange(needReply: true));
        Assert.True(_frontend.WaitForConfigChange(Wait));
        Assert.Equal(new MessageHeader((uint)BackendRequest.CONFIG_CHANGE_MSG, 0x9, 0), _frontend.LastRequest);
    }

    [Fact]
    public void Non_zero_answer_is_reported_as_false()
    {
        _frontend.ConfigChangeAnswer = 1;
        Assert.False(_backend.SendConfigChange(needReply: true));
        _frontend.ConfigChangeAnswer = 0;
        Assert.True(_backend.SendConfigChange(needReply: true));
    }

    [Fact]
    public void Waiting_counts_each_config_change_once()
    {
        for (int i = 0; i < 3; i++) _backend.SendConfigChange(needReply: true);
        for (int i = 0; i < 3; i++) Assert.True(_frontend.WaitForConfigChange(Wait));
        Assert.False(_frontend.WaitForConfigChange(TimeSpan.FromMilliseconds(50)));
    }

    [Fact]
    public void Sends_from_many_threads_are_serialised()
    {
        const int threads = 8, each = 25;
        var workers = Enumerable.Range(0, threads).Select(i => new Thread(() =>
        {
            for (int n = 0; n < each; n++) Assert.True(_backend.SendConfigChange(needReply: n % 2 == 0));
        })).ToList();
        workers.ForEach(t => t.Start());
        workers.ForEach(t => t.Join());
        for (int i = 0; i < threads * each; i++) Assert.True(_frontend.WaitForConfigChange(Wait));
        Assert.Equal(threads * each, _frontend.ConfigChangeCount);
        Assert.Null(_frontend.Fault);
    }

    [Fact]
    public void Missing_ack_times_out_and_the_channel_is_then_unusable()
    {
        var (front, back) = UnixSocket.Pair();
        using var silent = front;
        using var channel = new BackendChannel(back) { ReplyTimeout = TimeSpan.FromMilliseconds(100) };
        var error = Assert.Throws<VhostUserException>(() => channel.SendConfigChange(needReply: true));
        Assert.Equal(VhostUserError.Timeout, error.Error);
        Assert.True(error.DropConnection);
        Assert.Equal(VhostUserError.InvalidState,
            Assert.Throws<VhostUserException>(() => channel.SendConfigChange(needReply: false)).Error);
    }

    [Theory]
    [InlineData((uint)BackendRequest.CONFIG_CHANGE_MSG, 0x5u, 8, null)]
    [InlineData((uint)BackendRequest.IOTLB_MSG, 0x5u, 8, VhostUserError.UnexpectedReply)]
    [InlineData((uint)BackendRequest.CONFIG_CHANGE_MSG, 0xDu, 8, VhostUserError.UnexpectedReply)]
    [InlineData((uint)BackendRequest.CONFIG_CHANGE_MSG, 0x1u, 8, VhostUserError.UnexpectedReply)]
    [InlineData((uint)BackendRequest.CONFIG_CHANGE_MSG, 0x5u, 0, VhostUserError.UnexpectedReply)]
    [InlineData((uint)BackendRequest.CONFIG_CHANGE_MSG, 0x5u, 16, VhostUserError.UnexpectedReply)]
    public void Back_end_checks_the_ack_like_qemu_checks_replies(uint code, uint flags, int size, VhostUserError? expected)
    {
        var (front, back) = UnixSocket.Pair();
        using var peer = new VhostUserConnection(front);
        using var channel = new BackendChannel(back) { ReplyTimeout = Wait };
        var answer = new Thread(() =>
        {
            using var fds = new ReceivedFds();
            peer.Receive(out _, new byte[MessageHeader.MaxPayload], fds);
            peer.Send(code, flags, new byte[size]);
        });
        answer.Start();
        if (expected is null)
            Assert.True(channel.SendConfigChange(needReply: true));
        else
            Assert.Equal(expected, Assert.Throws<VhostUserException>(() => channel.SendConfigChange(needReply: true)).Error);
        answer.Join();
    }

    [Theory]
    [InlineData((uint)BackendRequest.IOTLB_MSG)]
    [InlineData((uint)BackendRequest.VRING_HOST_NOTIFIER_MSG)]
    [InlineData((uint)BackendRequest.VRING_CALL)]
    [InlineData(77u)]
    public void Listener_answers_unknown_requests_with_failure(uint request)
    {
        var (front, back) = UnixSocket.Pair();
        using var listener = new BackendRequestListener(front);
        using var backend = new VhostUserConnection(back);
        using var fds = new ReceivedFds();
        var payload = new byte[MessageHeader.MaxPayload];

        backend.Send(request, 0x9, new byte[8]);
        Assert.True(backend.Receive(out var header, payload, fds));
        Assert.Equal(new MessageHeader(request, 0x5, 8), header);
        Assert.Equal(1UL, Payload.Read<U64Payload>(payload).Value);

        // Without NEED_REPLY nothing comes back; the next ack answers the next request.
        backend.Send(request, 0x1, default);
        backend.Send((uint)BackendRequest.CONFIG_CHANGE_MSG, 0x9, default);
        Assert.True(backend.Receive(out header, payload, fds));
        Assert.Equal(new MessageHeader((uint)BackendRequest.CONFIG_CHANGE_MSG, 0x5, 8), header);
        Assert.Equal(0UL, Payload.Read<U64Payload>(payload).Value);
        Assert.Equal(2, listener.UnknownRequestCount);
        Assert.Equal(1, listener.ConfigChangeCount);
    }

    [Fact]
    public void Listener_closes_fds_sent_with_requests()
    {
        var (front, back) = UnixSocket.Pair();
        using var listener = new BackendRequestListener(front);
        using var backend = new VhostUserConnection(back);
        using var stray = new EventFd();
        int before = FileDescriptor.CountOpen();
        backend.Send((uint)BackendRequest.VRING_HOST_NOTIFIER_MSG, 0x9, new byte[24], [stray.Fd, stray.Fd]);
        using var fds = new ReceivedFds();
        Assert.True(backend.Receive(out _, new byte[MessageHeader.MaxPayload], fds));
        Assert.Equal(before, FileDescriptor.CountOpen());
    }

    [Fact]
    public void Listener_stops_on_a_framing_error_and_closes_the_channel()
    {
        var (front, back) = UnixSocket.Pair();
        using var listener = new BackendRequestListener(front);
        using var channel = new BackendChannel(back) { ReplyTimeout = Wait };
        var header = new byte[MessageHeader.Length];
        Payload.Write(header, new MessageHeader((uint)BackendRequest.CONFIG_CHANGE_MSG, 0x3, 0));
        back.Send(header);
        Assert.True(SpinWait.SpinUntil(() => listener.IsStopped, Wait));
        Assert.Equal(VhostUserError.InvalidHeader, Assert.IsType<VhostUserException>(listener.Fault).Error);
        var error = Assert.Throws<VhostUserException>(() => channel.SendConfigChange(needReply: true));
        Assert.True(error.DropConnection);
    }

    [Fact]
    public void Listener_raises_an_event_per_request()
    {
        _backend.SendConfigChange(needReply: true);
        _backend.SendConfigChange(needReply: true);
        // The event fires after the ack is sent, so the sender may return first.
        Assert.True(SpinWait.SpinUntil(() => { lock (_seen) return _seen.Count == 2; }, Wait));
    }
}
