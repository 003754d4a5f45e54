using VhostDeviceCan.Interop;

namespace VhostDeviceCan.VhostUser.Tests;

/// <summary>
/// NEED_REPLY is set exactly where QEMU sets it (vhost-user.rst "REPLY_ACK"; hw/virtio/vhost-user.c),
/// and where QEMU needs a round trip without REPLY_ACK it sends GET_FEATURES instead.
/// </summary>
public class FrontendReplyAckTests
{
    /// <summary>How QEMU treats each request: never acked, acked with REPLY_ACK, or synchronous.</summary>
    public enum Kind { Reply, Optional, IfNegotiated, Synchronous }

    private static readonly Dictionary<string, (FrontendRequest Request, Kind Kind, Action<VhostUserFrontend, int> Call)> Operations = new()
    {
        ["GetFeatures"] = (FrontendRequest.GET_FEATURES, Kind.Reply, (f, _) => f.GetFeatures()),
        ["GetVringBase"] = (FrontendRequest.GET_VRING_BASE, Kind.Reply, (f, _) => f.GetVringBase(1)),
        ["GetConfig"] = (FrontendRequest.GET_CONFIG, Kind.Reply, (f, _) => f.GetConfig(0, 8)),
        ["GetStatus"] = (FrontendRequest.GET_STATUS, Kind.Reply, (f, _) => f.GetStatus()),
        ["SetFeatures"] = (FrontendRequest.SET_FEATURES, Kind.Optional, (f, _) => f.SetFeatures(0x1_4000_0000UL)),
        ["SetFeaturesLogAll"] = (FrontendRequest.SET_FEATURES, Kind.Synchronous, (f, _) => f.SetFeatures(0x1_4400_0000UL)),
        ["SetProtocolFeatures"] = (FrontendRequest.SET_PROTOCOL_FEATURES, Kind.Optional, (f, _) => f.SetProtocolFeatures(f.AckedProtocolFeatures)),
        ["SetOwner"] = (FrontendRequest.SET_OWNER, Kind.Optional, (f, _) => f.SetOwner()),
        ["ResetOwner"] = (FrontendRequest.RESET_OWNER, Kind.Optional, (f, _) => f.ResetOwner()),
        ["ResetDevice"] = (FrontendRequest.RESET_DEVICE, Kind.Optional, (f, _) => f.ResetDevice()),
        ["SetStatus"] = (FrontendRequest.SET_STATUS, Kind.Optional, (f, _) => f.SetStatus(0xF)),
        ["SetVringNum"] = (FrontendRequest.SET_VRING_NUM, Kind.Optional, (f, _) => f.SetVringNum(0, 64)),
        ["SetVringBase"] = (FrontendRequest.SET_VRING_BASE, Kind.Optional, (f, _) => f.SetVringBase(0, 0)),
        ["SetVringAddr"] = (FrontendRequest.SET_VRING_ADDR, Kind.Optional, (f, _) => f.SetVringAddr(new VringAddress(0, 0, 0x1000, 0x3000, 0x2000, 0))),
        ["SetVringAddrLog"] = (FrontendRequest.SET_VRING_ADDR, Kind.Synchronous, (f, _) => f.SetVringAddr(new VringAddress(0, 1, 0x1000, 0x3000, 0x2000, 0x8000))),
        ["SetVringKick"] = (FrontendRequest.SET_VRING_KICK, Kind.Optional, (f, fd) => f.SetVringKick(0, fd)),
        ["SetVringCall"] = (FrontendRequest.SET_VRING_CALL, Kind.Optional, (f, fd) => f.SetVringCall(0, fd)),
        ["SetVringErr"] = (FrontendRequest.SET_VRING_ERR, Kind.Optional, (f, _) => f.SetVringErr(0, null)),
        ["SetVringEnable"] = (FrontendRequest.SET_VRING_ENABLE, Kind.Synchronous, (f, _) => f.SetVringEnable(0, true)),
        ["SetMemTable"] = (FrontendRequest.SET_MEM_TABLE, Kind.IfNegotiated, (f, fd) => f.SetMemTable([(new MemoryRegion(0, 0x1000, 0x7000_0000, 0), fd)])),
        ["AddMemReg"] = (FrontendRequest.ADD_MEM_REG, Kind.IfNegotiated, (f, fd) => f.AddMemReg(new MemoryRegion(0, 0x1000, 0x7000_0000, 0), fd)),
        ["RemMemReg"] = (FrontendRequest.REM_MEM_REG, Kind.IfNegotiated, (f, _) => f.RemMemReg(new MemoryRegion(0, 0x1000, 0x7000_0000, 0))),
        ["SetBackendReqFd"] = (FrontendRequest.SET_BACKEND_REQ_FD, Kind.IfNegotiated, (f, fd) => f.SetBackendReqFd(fd)),
        ["SetConfig"] = (FrontendRequest.SET_CONFIG, Kind.IfNegotiated, (f, _) => f.SetConfig(0, new byte[8])),
    };

    public static TheoryData<string, bool, bool> Cases()
    {
        var data = new TheoryData<string, bool, bool>();
        foreach (var name in Operations.Keys)
            foreach (bool replyAck in new[] { false, true })
                foreach (bool ackEverything in new[] { false, true })
                    data.Add(name, replyAck, ackEverything);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Need_reply_is_set_exactly_when_expected(string operation, bool replyAck, bool ackEverything)
    {
        var (request, kind, call) = Operations[operation];
        bool expectNeedReply = replyAck && kind switch
        {
            Kind.Reply => false,
            Kind.Optional => ackEverything,
            _ => true,
        };
        bool expectGetFeatures = !expectNeedReply && kind == Kind.Synchronous;

        var peer = new ScriptedPeer(ScriptedPeer.Backend());
        using (peer)
        using (var notifier = new EventFd())
        {
            using (var frontend = new VhostUserFrontend(peer.FrontendSocket) { ReplyTimeout = TimeSpan.FromSeconds(2) })
            {
                frontend.SetProtocolFeatures(replyAck ? ProtocolFeatures.REPLY_ACK : ProtocolFeatures.None);
                frontend.AckEverything = ackEverything;
                call(frontend, notifier.Fd);
            }
            peer.Join();

            var sent = peer.Received.Skip(1).ToList(); // after SET_PROTOCOL_FEATURES
            Assert.Equal(request, sent[0].Request);
            Assert.Equal(MessageHeader.Version | (expectNeedReply ? MessageHeader.NeedReplyFlag : 0), sent[0].Header.Flags);
            if (expectGetFeatures)
            {
                Assert.Equal(2, sent.Count);
                Assert.Equal(FrontendRequest.GET_FEATURES, sent[1].Request);
            }
            else
            {
                Assert.Single(sent);
            }
        }
    }

    [Fact]
    public void Without_sync_by_get_features_a_synchronous_request_sends_nothing_more()
    {
        var peer = new ScriptedPeer(ScriptedPeer.Backend());
        using (peer)
        {
            using (var frontend = new VhostUserFrontend(peer.FrontendSocket) { SyncWithGetFeatures = false })
                frontend.SetVringEnable(1, false);
            peer.Join();
            var sent = Assert.Single(peer.Received);
            Assert.Equal(FrontendRequest.SET_VRING_ENABLE, sent.Request);
            Assert.Equal(new VringState(1, 0), Payload.Read<VringState>(sent.Payload));
        }
    }

    [Fact]
    public void Set_protocol_features_remembers_what_was_acked()
    {
        var peer = new ScriptedPeer(ScriptedPeer.Backend());
        using (peer)
        using (var frontend = new VhostUserFrontend(peer.FrontendSocket))
        {
            Assert.False(frontend.ReplyAckNegotiated);
            frontend.SetProtocolFeatures(ProtocolFeatures.REPLY_ACK | ProtocolFeatures.CONFIG);
            Assert.True(frontend.ReplyAckNegotiated);
            Assert.Equal(ProtocolFeatures.REPLY_ACK | ProtocolFeatures.CONFIG, frontend.AckedProtocolFeatures);
            frontend.SetProtocolFeatures(ProtocolFeatures.CONFIG);
            Assert.False(frontend.ReplyAckNegotiated);
        }
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(0xFFFF_FFFF_FFFF_FFFFUL)]
    public void Non_zero_ack_is_request_failed_and_the_connection_stays_usable(ulong ack)
    {
        var peer = new ScriptedPeer(ScriptedPeer.Backend(ack: ack));
        using (peer)
        using (var frontend = new VhostUserFrontend(peer.FrontendSocket))
        using (var memory = MemFd.Create("guest", 0x1000))
        {
            frontend.SetProtocolFeatures(ProtocolFeatures.REPLY_ACK);
            var error = Assert.Throws<VhostUserException>(() =>
                frontend.SetMemTable([(new MemoryRegion(0, 0x1000, 0x7000_0000, 0), memory.Value)]));
            Assert.Equal(VhostUserError.RequestFailed, error.Error);
            Assert.False(error.DropConnection);
            Assert.Equal(0x1_4000_0000UL, frontend.GetFeatures());
        }
    }
}
