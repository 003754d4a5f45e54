using VhostDeviceCan.Interop;

namespace VhostDeviceCan.VhostUser.Tests;

/// <summary>What the typed requests put on the wire, and QEMU's connect sequence.</summary>
public class FrontendRequestTests
{
    private static IReadOnlyList<PeerMessage> Run(Action<VhostUserFrontend> calls, Action<ScriptedPeer>? script = null)
    {
        var peer = new ScriptedPeer(script ?? ScriptedPeer.Backend());
        using (peer)
        {
            using (var frontend = new VhostUserFrontend(peer.FrontendSocket)) calls(frontend);
            peer.Join();
            return peer.Received;
        }
    }

    private static string Hex(byte[] bytes) => Convert.ToHexString(bytes);

    [Theory]
    [InlineData(0u, false, "0001000000000000", 0)]
    [InlineData(2u, false, "0201000000000000", 0)]
    [InlineData(1u, true, "0100000000000000", 1)]
    [InlineData(255u, true, "FF00000000000000", 1)]
    public void Vring_fd_requests_encode_index_and_no_fd_bit(uint index, bool withFd, string payload, int fds)
    {
        using var notifier = new EventFd();
        var sent = Run(f =>
        {
            f.SetVringKick(index, withFd ? notifier.Fd : null);
            f.SetVringCall(index, withFd ? notifier.Fd : null);
            f.SetVringErr(index, withFd ? notifier.Fd : null);
        });
        Assert.Equal([FrontendRequest.SET_VRING_KICK, FrontendRequest.SET_VRING_CALL, FrontendRequest.SET_VRING_ERR],
            sent.Select(m => m.Request));
        Assert.All(sent, m =>
        {
            Assert.Equal(payload, Hex(m.Payload));
            Assert.Equal(fds, m.FdCount);
        });
    }

    [Fact]
    public void Vring_index_beyond_8_bits_is_refused_before_sending()
    {
        var sent = Run(f => Assert.Throws<ArgumentOutOfRangeException>(() => f.SetVringKick(256, null)));
        Assert.Empty(sent);
    }

    [Fact]
    public void Set_mem_table_sends_header_regions_and_one_fd_each()
    {
        using var low = MemFd.Create("low", 0x1000);
        using var high = MemFd.Create("high", 0x1000);
        var sent = Run(f => f.SetMemTable([
            (new MemoryRegion(0, 0x1000, 0x7F00_0000_0000, 0), low.Value),
            (new MemoryRegion(0x1_0000_0000, 0x1000, 0x7F00_1000_0000, 0x1000), high.Value),
        ]));
        var message = Assert.Single(sent);
        Assert.Equal(FrontendRequest.SET_MEM_TABLE, message.Request);
        Assert.Equal(2, message.FdCount);
        Assert.Equal(
            "0200000000000000"
            + "0000000000000000" + "0010000000000000" + "00000000007F0000" + "0000000000000000"
            + "0000000001000000" + "0010000000000000" + "00000010007F0000" + "0010000000000000",
            Hex(message.Payload));
    }

    [Fact]
    public void Set_mem_table_refuses_more_than_8_regions()
    {
        var regions = Enumerable.Repeat((new MemoryRegion(0, 0x1000, 0, 0), 0), 9).ToArray();
        var sent = Run(f => Assert.Throws<ArgumentOutOfRangeException>(() => f.SetMemTable(regions)));
        Assert.Empty(sent);
    }

    [Fact]
    public void Add_and_rem_mem_reg_send_padding_then_the_region()
    {
        using var memory = MemFd.Create("slot", 0x2000);
        var region = new MemoryRegion(0x4000_0000, 0x2000, 0x7F00_0000_0000, 0);
        var sent = Run(f =>
        {
            f.AddMemReg(region, memory.Value);
            f.RemMemReg(region);
            f.RemMemReg(region, memory.Value);
        });
        const string wire = "0000000000000000" + "0000004000000000" + "0020000000000000" + "00000000007F0000" + "0000000000000000";
        Assert.Equal([FrontendRequest.ADD_MEM_REG, FrontendRequest.REM_MEM_REG, FrontendRequest.REM_MEM_REG], sent.Select(m => m.Request));
        Assert.All(sent, m => Assert.Equal(wire, Hex(m.Payload)));
        Assert.Equal([1, 0, 1], sent.Select(m => m.FdCount));
    }

    [Fact]
    public void Vring_state_and_address_requests()
    {
        var sent = Run(f =>
        {
            f.SetVringNum(1, 256);
            f.SetVringBase(1, 7);
            f.SetVringAddr(new VringAddress(1, 0, 0x1000, 0x3000, 0x2000, 0));
            f.SetVringEnable(1, true);
            Assert.Equal(42u, f.GetVringBase(1));
        });
        Assert.Equal(
        [
            FrontendRequest.SET_VRING_NUM, FrontendRequest.SET_VRING_BASE, FrontendRequest.SET_VRING_ADDR,
            FrontendRequest.SET_VRING_ENABLE, FrontendRequest.GET_FEATURES, FrontendRequest.GET_VRING_BASE,
        ], sent.Select(m => m.Request));
        Assert.Equal("0100000000010000", Hex(sent[0].Payload));
        Assert.Equal("0100000007000000", Hex(sent[1].Payload));
        Assert.Equal("01000000" + "00000000" + "0010000000000000" + "0030000000000000" + "0020000000000000" + "0000000000000000",
            Hex(sent[2].Payload));
        Assert.Equal("0100000001000000", Hex(sent[3].Payload));
        Assert.Equal("0100000000000000", Hex(sent[5].Payload));
    }

    [Fact]
    public void Config_status_and_owner_requests()
    {
        var sent = Run(f =>
        {
            f.SetConfig(4, [0xAA, 0xBB], flags: 1);
            f.SetStatus(0x0F);
            Assert.Equal(3, f.GetStatus());
            f.AddStatus(DeviceStatus.ACKNOWLEDGE); // already set: no SET_STATUS
            f.AddStatus(DeviceStatus.FEATURES_OK);
            f.SetOwner();
            f.ResetDevice();
        });
        Assert.Equal(
        [
            FrontendRequest.SET_CONFIG, FrontendRequest.SET_STATUS, FrontendRequest.GET_STATUS,
            FrontendRequest.GET_STATUS, FrontendRequest.GET_STATUS, FrontendRequest.SET_STATUS,
            FrontendRequest.SET_OWNER, FrontendRequest.RESET_DEVICE,
        ], sent.Select(m => m.Request));
        Assert.Equal("04000000" + "02000000" + "01000000" + "AABB", Hex(sent[0].Payload));
        Assert.Equal(0x0FUL, sent[1].U64);
        Assert.Equal(0x0BUL, sent[5].U64);
        Assert.Empty(sent[6].Payload);
        Assert.Empty(sent[7].Payload);
    }

    [Fact]
    public void Config_larger_than_256_bytes_is_refused()
    {
        var sent = Run(f =>
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => f.GetConfig(0, 257));
            Assert.Throws<ArgumentOutOfRangeException>(() => f.SetConfig(0, new byte[257]));
        });
        Assert.Empty(sent);
    }

    [Fact]
    public void Negotiate_like_qemu_follows_the_connect_sequence()
    {
        const ulong offered = 0x1_4000_0000UL | 1UL << 29; // VERSION_1 | PROTOCOL_FEATURES | EVENT_IDX
        var protocol = ProtocolFeatures.MQ | ProtocolFeatures.REPLY_ACK | ProtocolFeatures.BACKEND_REQ
            | ProtocolFeatures.CONFIG | ProtocolFeatures.CONFIGURE_MEM_SLOTS | (ProtocolFeatures)(1UL << 20);
        NegotiationResult? result = null;
        var sent = Run(f =>
        {
            result = f.NegotiateLikeQemu(wantedFeatures: 1UL << 32, VhostUserFrontend.QemuProtocolFeatures, queueCount: 2);
        }, ScriptedPeer.Backend(features: offered, protocol: protocol));

        using (result)
        {
            Assert.Equal(
            [
                FrontendRequest.GET_FEATURES, FrontendRequest.GET_PROTOCOL_FEATURES, FrontendRequest.SET_PROTOCOL_FEATURES,
                FrontendRequest.GET_QUEUE_NUM, FrontendRequest.GET_MAX_MEM_SLOTS, FrontendRequest.SET_BACKEND_REQ_FD,
                FrontendRequest.SET_OWNER, FrontendRequest.GET_FEATURES,
                FrontendRequest.SET_VRING_CALL, FrontendRequest.SET_VRING_ERR,
                FrontendRequest.SET_VRING_CALL, FrontendRequest.SET_VRING_ERR,
            ], sent.Select(m => m.Request));
            // Bit 20 is unknown to QEMU's mask, so it is not acked.
            Assert.Equal((ulong)(protocol & ~(ProtocolFeatures)(1UL << 20)), sent[2].U64);
            Assert.Equal(MessageHeader.Version | MessageHeader.NeedReplyFlag, sent[5].Header.Flags);
            Assert.Equal(1, sent[5].FdCount);
            Assert.Equal("0100000000000000", Hex(sent[10].Payload));
            Assert.All(sent.Skip(8), m => Assert.Equal(1, m.FdCount));

            Assert.NotNull(result);
            Assert.Equal(offered, result.OfferedFeatures);
            Assert.Equal(1UL << 32, result.AckedFeatures);
            Assert.Equal(1UL << 32 | 1UL << 30, result.FeaturesToSet);
            Assert.Equal(3UL, result.QueueNum);
            Assert.Equal(509UL, result.MaxMemSlots);
            Assert.NotNull(result.BackendChannel);
            Assert.Equal(2, result.CallNotifiers.Count);
        }
    }

    [Fact]
    public void Negotiate_without_protocol_features_stops_after_the_basics()
    {
        NegotiationResult? result = null;
        var sent = Run(f => result = f.NegotiateLikeQemu(ulong.MaxValue, VhostUserFrontend.QemuProtocolFeatures),
            ScriptedPeer.Backend(features: 1UL << 32));
        using (result)
        {
            Assert.Equal([FrontendRequest.GET_FEATURES, FrontendRequest.SET_OWNER, FrontendRequest.GET_FEATURES],
                sent.Select(m => m.Request));
            Assert.Equal(ProtocolFeatures.None, result!.AckedProtocolFeatures);
            Assert.Equal(1UL, result.QueueNum);
            Assert.Null(result.BackendChannel);
            Assert.Equal(1UL << 32, result.FeaturesToSet);
        }
    }

    [Fact]
    public void Raw_send_and_receive_for_hostile_tests()
    {
        var peer = new ScriptedPeer(p =>
        {
            var message = p.Receive();
            p.Send(message.Header.Request, 0x5, message.Payload, p.LastFds.Select(fd => fd.Value).ToArray());
            p.Receive(); // wait for the close
        });
        using (peer)
        using (var notifier = new EventFd())
        {
            using (var frontend = new VhostUserFrontend(peer.FrontendSocket))
            {
                Span<byte> buffer = stackalloc byte[16];
                Assert.Equal(RawReceiveStatus.TimedOut, frontend.TryReceiveRaw(out _, buffer, TimeSpan.FromMilliseconds(50)));

                // Unknown code, REPLY and NEED_REPLY together: only SendRaw sends such a message.
                frontend.SendRaw(999, 0xD, [1, 2, 3], [notifier.Fd]);
                Assert.Equal(0xDu, frontend.LastRequestFlags);
                var fds = new List<FileDescriptor>();
                Assert.Equal(RawReceiveStatus.Message, frontend.TryReceiveRaw(out var header, buffer, TimeSpan.FromSeconds(2), fds));
                Assert.Equal(new MessageHeader(999, 0x5, 3), header);
                Assert.Equal([1, 2, 3], buffer[..3].ToArray());
                using var echoed = new EventFd(Assert.Single(fds));
                echoed.Signal();
                Assert.Equal(1UL, notifier.Consume());
            }
            Assert.ThrowsAny<Exception>(peer.Join); // the peer's second Receive sees the close
        }
    }

    [Fact]
    public void Raw_receive_reports_a_closed_peer()
    {
        var peer = new ScriptedPeer(p => p.Close());
        using (peer)
        using (var frontend = new VhostUserFrontend(peer.FrontendSocket))
        {
            Assert.Equal(RawReceiveStatus.Closed, frontend.TryReceiveRaw(out _, default, TimeSpan.FromSeconds(2)));
            peer.Join();
        }
    }
}
