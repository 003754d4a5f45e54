using VhostDeviceCan.Frontend;
using VhostDeviceCan.Interop;
using VhostDeviceCan.VhostUser;

namespace VhostDeviceCan.Backend.Tests;

/// <summary>
/// Every malformed request is answered cleanly: with REPLY_ACK and NEED_REPLY a non-zero ack and a
/// connection that keeps working; otherwise the connection is closed. Either way the next front-end
/// gets a working session, and no fd that came with a refused request stays open.
/// </summary>
public sealed class MalformedMessageTests(EchoHostFixture fixture) : IClassFixture<EchoHostFixture>
{
    public enum Mode
    {
        /// <summary>REPLY_ACK negotiated and NEED_REPLY set: a non-zero ack, the connection stays.</summary>
        AckRequested,
        /// <summary>REPLY_ACK negotiated, NEED_REPLY not set: nothing to tell the front-end, so close.</summary>
        NoNeedReply,
        /// <summary>NEED_REPLY set but REPLY_ACK never negotiated: the flag means nothing, so close.</summary>
        ReplyAckNotNegotiated,
    }

    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private readonly EchoHostProcess _host = fixture.Host;

    // By name, so that each case is its own test in the runner's list (names serialize, delegates do not).
    public static TheoryData<string, Mode> Cases()
    {
        var data = new TheoryData<string, Mode>();
        foreach (var message in BadMessages.All())
            foreach (var mode in Enum.GetValues<Mode>())
                data.Add(message.Name, mode);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Malformed_request_is_refused_cleanly_and_the_next_session_works(string name, Mode mode)
    {
        var message = BadMessages.All().Single(m => m.Name == name);
        var options = Options(message.Setup, replyAck: mode != Mode.ReplyAckNotNegotiated);
        using (var frontend = VirtioFrontend.Connect(_host.SocketPath, options))
        {
            if (message.Setup is Setup.Stopped or Setup.Running) frontend.Start();
            if (message.Setup is Setup.Stopped) frontend.Stop();

            uint flags = MessageHeader.Version | (mode == Mode.NoNeedReply ? 0 : MessageHeader.NeedReplyFlag);
            message.Send(frontend, flags);

            if (mode == Mode.AckRequested && !message.HasOwnReply)
            {
                AssertFailedAck(frontend.Client, message.Request);

                // The same connection keeps working: a round trip, then buffers on both queues.
                frontend.Client.GetFeatures();
                if (!frontend.IsRunning) frontend.Start();
                EchoTraffic.Run(frontend, 0, 10, diagnostics: () => _host.Output);
                EchoTraffic.Run(frontend, 1, 10, indirect: true, diagnostics: () => _host.Output);
            }
            else
            {
                AssertClosed(frontend.Client);
            }
        }
        Sessions.ProveWorking(_host.SocketPath, SmallOptions(), () => _host.Output);
    }

    [Fact]
    public void Fds_sent_with_refused_requests_are_all_closed()
    {
        int before = Sessions.SettledFdCount(_host);
        foreach (var message in BadMessages.All().Where(m => m.Fds > 0))
        {
            foreach (var mode in new[] { Mode.AckRequested, Mode.NoNeedReply })
            {
                using var frontend = VirtioFrontend.Connect(_host.SocketPath, Options(message.Setup, replyAck: true));
                if (message.Setup is Setup.Stopped or Setup.Running) frontend.Start();
                message.Send(frontend, MessageHeader.Version | (mode == Mode.AckRequested ? MessageHeader.NeedReplyFlag : 0));
                if (mode == Mode.AckRequested && !message.HasOwnReply) AssertFailedAck(frontend.Client, message.Request);
                else AssertClosed(frontend.Client);
            }
        }
        Assert.Equal(before, Sessions.SettledFdCount(_host));
    }

    [Fact]
    public void Unknown_request_codes_and_bad_headers_close_the_connection()
    {
        foreach (var (request, flags, size) in new (uint, uint, uint)[]
        {
            (999, MessageHeader.Version | MessageHeader.NeedReplyFlag, 0),
            (0, MessageHeader.Version, 0),
            (45, MessageHeader.Version | MessageHeader.NeedReplyFlag, 0),
            (1, 2, 0),                                   // version 2
            (1, MessageHeader.Version | 0x10, 0),        // a flag bit above NEED_REPLY
        })
        {
            using (var frontend = VirtioFrontend.Connect(_host.SocketPath, SmallOptions()))
            {
                frontend.Client.SendRaw(request, flags, new byte[size]);
                AssertClosed(frontend.Client);
            }
            Sessions.ProveWorking(_host.SocketPath, SmallOptions(), () => _host.Output);
        }
    }

    [Fact]
    public void An_oversized_size_field_closes_the_connection()
    {
        using (var frontend = VirtioFrontend.Connect(_host.SocketPath, SmallOptions()))
        {
            // Only the header: the back-end must judge the size field without waiting for 64 KiB.
            SendHeader(frontend.Client.Socket, (uint)FrontendRequest.SET_FEATURES, MessageHeader.Version | MessageHeader.NeedReplyFlag, 0x10000);
            AssertClosed(frontend.Client);
        }
        Sessions.ProveWorking(_host.SocketPath, SmallOptions(), () => _host.Output);
    }

    [Theory]
    [InlineData(6, 0)]   // half a header, then silence
    [InlineData(12, 4)]  // a header announcing 8 bytes, then 4 of them and silence
    public void A_peer_that_stalls_inside_a_message_is_dropped_after_the_receive_timeout(int headerBytes, int payloadBytes)
    {
        using (var frontend = VirtioFrontend.Connect(_host.SocketPath, SmallOptions()))
        {
            Span<byte> message = stackalloc byte[MessageHeader.Length + 8];
            Payload.Write(message, new MessageHeader((uint)FrontendRequest.SET_FEATURES, MessageHeader.Version, 8));
            long start = Environment.TickCount64;
            frontend.Client.Socket.Send(message[..(headerBytes + payloadBytes)]);
            // The runtime waits at most 2 s inside one message; then the connection must go.
            AssertClosed(frontend.Client);
            long elapsed = Environment.TickCount64 - start;
            // Never before the 2 s timeout; the upper bound leaves a loaded machine room.
            Assert.InRange(elapsed, 1500, 4900);
        }
        // The loop is not stuck: the next front-end is served at once.
        Sessions.ProveWorking(_host.SocketPath, SmallOptions(), () => _host.Output);
    }

    [Fact]
    public void Half_a_header_then_close_ends_only_that_connection()
    {
        using (var frontend = VirtioFrontend.Connect(_host.SocketPath, SmallOptions()))
        {
            frontend.Client.Socket.Send(new byte[] { 1, 0, 0, 0, 1 });
        }
        Sessions.ProveWorking(_host.SocketPath, SmallOptions(), () => _host.Output);
    }

    private static VirtioFrontendOptions SmallOptions() => Options(Setup.Connected, replyAck: true);

    /// <summary>Small rings and RAM: these tests make hundreds of sessions.</summary>
    private static VirtioFrontendOptions Options(Setup setup, bool replyAck)
    {
        ProtocolFeatures removed = setup switch
        {
            Setup.NoConfig => ProtocolFeatures.CONFIG,
            Setup.NoStatus => ProtocolFeatures.STATUS,
            Setup.NoMemSlots => ProtocolFeatures.CONFIGURE_MEM_SLOTS,
            Setup.NoResetDevice => ProtocolFeatures.RESET_DEVICE,
            Setup.NoBackendReq => ProtocolFeatures.BACKEND_REQ,
            Setup.NoMq => ProtocolFeatures.MQ,
            _ => ProtocolFeatures.None,
        };
        if (!replyAck) removed |= ProtocolFeatures.REPLY_ACK;
        return new VirtioFrontendOptions
        {
            ProtocolFeatures = VhostUserFrontend.QemuProtocolFeatures & ~removed,
            QueueSize = 64,
            MemorySize = 1 << 20,
            BufferSize = 1024,
            ReplyTimeout = Wait,
        };
    }

    /// <summary>A u64 reply to <paramref name="request"/> with flags exactly 0x5 and a non-zero value.</summary>
    private void AssertFailedAck(VhostUserFrontend client, FrontendRequest request)
    {
        Span<byte> payload = stackalloc byte[8];
        var status = client.TryReceiveRaw(out var header, payload, Wait);
        Assert.True(status == RawReceiveStatus.Message, $"expected a failed ack, got {status}\n{_host.Output}");
        Assert.Equal(new MessageHeader((uint)request, MessageHeader.Version | MessageHeader.ReplyFlag, 8), header);
        Assert.NotEqual(0UL, BitConverter.ToUInt64(payload));
    }

    /// <summary>The back-end closes without sending anything more.</summary>
    private void AssertClosed(VhostUserFrontend client)
    {
        Span<byte> payload = stackalloc byte[(int)MessageHeader.MaxPayload];
        RawReceiveStatus status;
        try
        {
            status = client.TryReceiveRaw(out var header, payload, Wait);
            Assert.True(status != RawReceiveStatus.Message, $"unexpected message {header} instead of a closed connection");
        }
        catch (VhostUserException e) when (e.Error == VhostUserError.SocketError)
        {
            // ECONNRESET: the back-end closed with our unread bytes in its queue.
            return;
        }
        Assert.True(status == RawReceiveStatus.Closed, $"the connection was not closed within {Wait}\n{_host.Output}");
    }

    private static void SendHeader(UnixSocket socket, uint request, uint flags, uint size)
    {
        Span<byte> header = stackalloc byte[MessageHeader.Length];
        Payload.Write(header, new MessageHeader(request, flags, size));
        socket.Send(header);
    }
}
