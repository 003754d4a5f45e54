using VhostDeviceCan.Frontend;
using VhostDeviceCan.VhostUser;

namespace VhostDeviceCan.Backend.Tests;

/// <summary>
/// A front-end that sends a message slowly holds the one event-loop thread (kicks and device fds
/// included) while the runtime waits for the rest; the runtime bounds that wait per message.
/// </summary>
public sealed class SlowPeerTests
{
    private static readonly TimeSpan Pace = TimeSpan.FromMilliseconds(1500);

    [Theory]
    [MemberData(nameof(Backends.Both), MemberType = typeof(Backends))]
    public void A_peer_that_trickles_a_message_is_dropped_within_the_receive_timeout(BackendKind kind)
    {
        using var backend = Backends.Start(kind);
        using (var frontend = VirtioFrontend.Connect(backend.SocketPath))
        {
            // A 40-byte SET_MEM_TABLE payload sent one byte per 1.5 s: every single receive sees
            // progress within its own 2 s timeout, so only a deadline for the whole message ends it.
            Span<byte> message = stackalloc byte[MessageHeader.Length + 1];
            Payload.Write(message, new MessageHeader((uint)FrontendRequest.SET_MEM_TABLE, MessageHeader.Version, 40));
            long start = Environment.TickCount64;
            frontend.Client.Socket.Send(message);
            Span<byte> reply = stackalloc byte[8];
            RawReceiveStatus status = RawReceiveStatus.TimedOut;
            for (int sent = 1; sent < 8; sent++)
            {
                // Waiting for the back-end to hang up sets the pace: no sleeping.
                try
                {
                    status = frontend.Client.TryReceiveRaw(out _, reply, Pace);
                }
                catch (VhostUserException e) when (e.Error == VhostUserError.SocketError)
                {
                    status = RawReceiveStatus.Closed; // ECONNRESET: closed with our bytes unread
                }
                if (status != RawReceiveStatus.TimedOut) break;
                frontend.Client.Socket.Send(message[..1]);
            }
            long elapsed = Environment.TickCount64 - start;
            Assert.Equal(RawReceiveStatus.Closed, status);
            Assert.True(elapsed < 3500, $"the connection was dropped only after {elapsed} ms");
        }
        Sessions.ProveWorking(backend.SocketPath, diagnostics: () => TrafficTests.Describe(backend));
    }
}
