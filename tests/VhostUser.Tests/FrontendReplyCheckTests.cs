using System.Diagnostics;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.VhostUser.Tests;

/// <summary>Replies are checked as QEMU checks them: flags exactly 0x5, same code, exact size; with a timeout.</summary>
public class FrontendReplyCheckTests
{
    private static VhostUserException Fails(Action<ScriptedPeer> script, Action<VhostUserFrontend> call, int timeoutMs = 2000)
    {
        var peer = new ScriptedPeer(script);
        using (peer)
        {
            VhostUserException error;
            using (var frontend = new VhostUserFrontend(peer.FrontendSocket) { ReplyTimeout = TimeSpan.FromMilliseconds(timeoutMs) })
                error = Assert.Throws<VhostUserException>(() => call(frontend));
            peer.Join();
            return error;
        }
    }

    private static byte[] U64(ulong value) => BitConverter.GetBytes(value);

    [Theory]
    [InlineData((uint)FrontendRequest.GET_FEATURES, 0x5u, 8)]       // control row: accepted
    [InlineData((uint)FrontendRequest.GET_PROTOCOL_FEATURES, 0x5u, 8)] // wrong code
    [InlineData(0u, 0x5u, 8)]                                        // wrong code
    [InlineData((uint)FrontendRequest.GET_FEATURES, 0x1u, 8)]       // no REPLY bit
    [InlineData((uint)FrontendRequest.GET_FEATURES, 0xDu, 8)]       // NEED_REPLY echoed back
    [InlineData((uint)FrontendRequest.GET_FEATURES, 0x6u, 8)]       // version 2
    [InlineData((uint)FrontendRequest.GET_FEATURES, 0x15u, 8)]      // unknown bit 4
    [InlineData((uint)FrontendRequest.GET_FEATURES, 0x5u, 0)]       // too short
    [InlineData((uint)FrontendRequest.GET_FEATURES, 0x5u, 4)]
    [InlineData((uint)FrontendRequest.GET_FEATURES, 0x5u, 16)]      // too long
    public void Get_features_reply_is_checked(uint code, uint flags, int size)
    {
        bool good = code == (uint)FrontendRequest.GET_FEATURES && flags == 0x5 && size == 8;
        var peer = new ScriptedPeer(p =>
        {
            p.Expect(FrontendRequest.GET_FEATURES);
            p.Send(code, flags, new byte[size]);
        });
        using (peer)
        {
            using (var frontend = new VhostUserFrontend(peer.FrontendSocket) { ReplyTimeout = TimeSpan.FromSeconds(2) })
            {
                if (good)
                {
                    Assert.Equal(0UL, frontend.GetFeatures());
                }
                else
                {
                    var error = Assert.Throws<VhostUserException>(() => frontend.GetFeatures());
                    Assert.Equal(VhostUserError.UnexpectedReply, error.Error);
                    Assert.True(error.DropConnection);
                }
            }
            peer.Join();
        }
    }

    [Theory]
    [InlineData(8, true)]
    [InlineData(4, false)]
    [InlineData(12, false)]
    [InlineData(40, false)]
    public void Get_vring_base_reply_must_be_a_vring_state(int size, bool good)
    {
        var peer = new ScriptedPeer(p =>
        {
            var request = p.Expect(FrontendRequest.GET_VRING_BASE);
            if (Payload.Read<VringState>(request.Payload) != new VringState(2, 0)) throw new InvalidOperationException("bad request");
            var reply = new byte[size];
            if (size >= 8) Payload.Write(reply, new VringState(2, 77));
            p.Reply(FrontendRequest.GET_VRING_BASE, reply);
        });
        using (peer)
        {
            using (var frontend = new VhostUserFrontend(peer.FrontendSocket))
            {
                if (good) Assert.Equal(77u, frontend.GetVringBase(2));
                else Assert.Equal(VhostUserError.UnexpectedReply, Assert.Throws<VhostUserException>(() => frontend.GetVringBase(2)).Error);
            }
            peer.Join();
        }
    }

    [Theory]
    [InlineData(8u, 20, true)]
    [InlineData(8u, 19, false)]
    [InlineData(8u, 21, false)]
    [InlineData(8u, 0, false)]   // the doc's "zero-length payload = failure": QEMU treats it as a protocol error
    [InlineData(8u, 12, false)]
    [InlineData(256u, 268, true)]
    public void Get_config_reply_must_be_12_plus_size(uint size, int replySize, bool good)
    {
        var peer = new ScriptedPeer(p =>
        {
            var request = p.Expect(FrontendRequest.GET_CONFIG);
            // The request already carries size bytes of (zero) config.
            if (request.Payload.Length != 12 + (int)size || request.Payload.Skip(12).Any(b => b != 0))
                throw new InvalidOperationException("bad GET_CONFIG request");
            if (Payload.Read<ConfigHeader>(request.Payload) != new ConfigHeader(0, size, 0))
                throw new InvalidOperationException("bad config header");
            var reply = new byte[replySize];
            for (int i = 12; i < replySize; i++) reply[i] = (byte)(i - 11);
            p.Reply(FrontendRequest.GET_CONFIG, reply);
        });
        using (peer)
        {
            using (var frontend = new VhostUserFrontend(peer.FrontendSocket))
            {
                if (good)
                {
                    byte[] config = frontend.GetConfig(0, size);
                    Assert.Equal((int)size, config.Length);
                    Assert.Equal(Enumerable.Range(1, (int)size).Select(i => (byte)i), config);
                }
                else
                {
                    Assert.Equal(VhostUserError.UnexpectedReply,
                        Assert.Throws<VhostUserException>(() => frontend.GetConfig(0, size)).Error);
                }
            }
            peer.Join();
        }
    }

    [Fact]
    public void Ack_with_wrong_code_is_unexpected_reply()
    {
        var error = Fails(p =>
        {
            p.Expect(FrontendRequest.SET_PROTOCOL_FEATURES);
            p.Expect(FrontendRequest.SET_CONFIG);
            p.ReplyU64(FrontendRequest.GET_FEATURES, 0);
        }, f =>
        {
            f.SetProtocolFeatures(ProtocolFeatures.REPLY_ACK);
            f.SetConfig(0, new byte[4]);
        });
        Assert.Equal(VhostUserError.UnexpectedReply, error.Error);
    }

    [Fact]
    public void Reply_carrying_an_fd_is_refused_and_the_fd_closed()
    {
        using var stray = new EventFd();
        int before = FileDescriptor.CountOpen();
        var error = Fails(p =>
        {
            p.Expect(FrontendRequest.GET_FEATURES);
            p.Send((uint)FrontendRequest.GET_FEATURES, 0x5, U64(1), [stray.Fd]);
        }, f => f.GetFeatures());
        Assert.Equal(VhostUserError.UnexpectedReply, error.Error);
        Assert.Equal(before, FileDescriptor.CountOpen());
    }

    [Fact]
    public void Silent_backend_times_out_instead_of_hanging()
    {
        var watch = Stopwatch.StartNew();
        var error = Fails(p =>
        {
            p.Expect(FrontendRequest.GET_FEATURES);
            p.TryReceive(); // wait until the front-end gives up and closes
        }, f => f.GetFeatures(), timeoutMs: 200);
        Assert.Equal(VhostUserError.Timeout, error.Error);
        Assert.True(error.DropConnection);
        Assert.InRange(watch.ElapsedMilliseconds, 150, 3000);
    }

    [Fact]
    public void Missing_ack_times_out()
    {
        var error = Fails(p =>
        {
            p.Expect(FrontendRequest.SET_PROTOCOL_FEATURES);
            p.Expect(FrontendRequest.SET_VRING_ENABLE);
            p.TryReceive();
        }, f =>
        {
            f.SetProtocolFeatures(ProtocolFeatures.REPLY_ACK);
            f.SetVringEnable(0, true);
        }, timeoutMs: 200);
        Assert.Equal(VhostUserError.Timeout, error.Error);
    }

    [Fact]
    public void Backend_closing_instead_of_replying_is_disconnected()
    {
        var error = Fails(p =>
        {
            p.Expect(FrontendRequest.GET_QUEUE_NUM);
            p.Close();
        }, f => f.GetQueueNum());
        Assert.Equal(VhostUserError.Disconnected, error.Error);
        Assert.True(error.DropConnection);
    }
}
