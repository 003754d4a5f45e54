using System.Text;
using System.Text.Json;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using VhostDeviceCan.Interop;
using VhostDeviceCan.VirtioCanWire;
using static VhostDeviceCan.Daemon.Tests.Traffic;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>Hostile control clients against the published daemon: each gets an error reply or is
/// dropped, and the guests on its bus keep talking throughout.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ControlHostileTests
{
    private static UnixSocket Connect(DaemonProcess daemon)
    {
        var socket = UnixSocket.Connect(daemon.Control);
        socket.SetTimeouts(TimeSpan.FromSeconds(10));
        return socket;
    }

    /// <summary>One reply line, or null at end of stream.</summary>
    private static string? ReadLine(UnixSocket socket)
    {
        var line = new List<byte>();
        var one = new byte[1];
        try
        {
            while (socket.Receive(one, null) == 1)
            {
                if (one[0] == '\n') return Encoding.UTF8.GetString([.. line]);
                line.Add(one[0]);
            }
        }
        catch (SyscallException e) when (e.ErrorNumber == Errno.ECONNRESET && line.Count == 0)
        {
            // Closed by the daemon with part of our request still unread: the kernel says reset.
        }
        return line.Count == 0 ? null : throw new EndOfStreamException("half a reply");
    }

    private static string ErrorCode(string? reply)
    {
        Assert.NotNull(reply);
        JsonElement root = JsonDocument.Parse(reply).RootElement;
        Assert.Equal(1, root.GetProperty("v").GetInt32());
        Assert.False(root.GetProperty("ok").GetBoolean(), reply);
        return root.GetProperty("error").GetProperty("code").GetString()!;
    }

    private static void AssertGuestsStillTalk(VirtioCanGuest a, VirtioCanGuest b, byte mark)
    {
        Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, a.SendAndWait(CanFrame.Classic(0x42, false, [mark])));
        Assert.Equal(mark, ReceiveOne(b).Data[0]);
    }


    [Fact]
    public void Malformed_requests_each_get_an_error_reply_on_the_same_connection()
    {
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        using var client = Connect(daemon);
        (string Line, string Code)[] cases =
        [
            ("\u0001\u0002garbage\u00ff", "bad-json"),
            ("{\"v\":1,\"cmd\":\"sta", "bad-json"),
            ("{\"v\":\"one\",\"cmd\":\"status\"}", "bad-request"),
            ("{\"v\":1,\"cmd\":[\"status\"]}", "bad-request"),
            ("{\"v\":1,\"cmd\":\"status\",\"colour\":\"red\"}", "bad-request"),
            ("{\"v\":1,\"cmd\":\"set-filter\",\"guest\":true,\"direction\":\"tx\",\"filter\":\"1\"}", "bad-request"),
            ("{\"v\":1,\"cmd\":\"inject\",\"target\":0,\"frames\":\"123#00\"}", "bad-request"),
            ("{\"v\":7,\"cmd\":\"status\"}", "unsupported-version"),
            ("{\"v\":1,\"cmd\":\"teleport\"}", "unknown-command"),
            ("{\"v\":1,\"cmd\":\"set-filter\",\"guest\":99,\"direction\":\"tx\",\"filter\":\"1\"}", "no-such-guest"),
        ];
        foreach (var (line, code) in cases)
        {
            client.Send(Encoding.UTF8.GetBytes(line + "\n"));
            Assert.Equal(code, ErrorCode(ReadLine(client)));
        }
        // The same connection still serves a good request.
        client.Send("{\"v\":1,\"id\":99,\"cmd\":\"status\"}\n"u8);
        JsonElement ok = JsonDocument.Parse(ReadLine(client)!).RootElement;
        Assert.Equal((99L, true), (ok.GetProperty("id").GetInt64(), ok.GetProperty("ok").GetBoolean()));
        AssertGuestsStillTalk(a, b, 1);
        Assert.False(daemon.HasExited);
    }

    [Fact]
    public void An_oversize_line_gets_an_error_and_the_connection_closes()
    {
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        using var client = Connect(daemon);
        byte[] huge = Encoding.ASCII.GetBytes("{\"v\":1,\"cmd\":\"status\",\"pad\":\"" + new string('x', 70_000) + "\"}\n");
        try
        {
            client.Send(huge);
        }
        catch (SyscallException)
        {
            // The daemon may close before it has read everything: the reply is still there to read.
        }
        Assert.Equal("line-too-long", ErrorCode(ReadLine(client)));
        Assert.Null(ReadLine(client));
        daemon.Process.WaitForLog("sent a line longer than 65536 bytes; the connection closes");
        AssertGuestsStillTalk(a, b, 2);
    }

    [Fact]
    public void File_descriptors_passed_with_a_request_are_closed_with_the_connection()
    {
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        int fdsBefore = daemon.FdCount;
        using var client = Connect(daemon);
        using var passed = new EventFd();
        client.Send("{\"v\":1,\"cmd\":\"status\"}\n"u8, [passed.Fd, passed.Fd]);
        Assert.Equal("fds-refused", ErrorCode(ReadLine(client)));
        Assert.Null(ReadLine(client));
        daemon.Process.WaitForLog(@"passed 2 file descriptor\(s\); closed them and the connection");
        Assert.True(SpinWait.SpinUntil(() => daemon.FdCount <= fdsBefore, TimeSpan.FromSeconds(5)), $"the daemon holds {daemon.FdCount} fds, {fdsBefore} before");
        AssertGuestsStillTalk(a, b, 3);
    }

    [Fact]
    public void Connections_that_hang_take_at_most_every_slot_and_the_guests_go_on()
    {
        using var daemon = DaemonProcess.Start(2);
        using var a = Started(daemon.Socket(0));
        using var b = Started(daemon.Socket(1));
        var hanging = new List<UnixSocket>();
        try
        {
            for (int i = 0; i < 16; i++)
            {
                UnixSocket socket = Connect(daemon);
                hanging.Add(socket);
                // Half a request, never finished.
                socket.Send("{\"v\":1,\"cmd\":"u8);
            }
            // All sixteen accepted: the next is refused with a reason.
            Assert.True(SpinWait.SpinUntil(() =>
            {
                using var extra = Connect(daemon);
                string? reply = ReadLine(extra);
                return reply is not null && ErrorCode(reply) == "too-many-clients";
            }, TimeSpan.FromSeconds(10)));
            Assert.Equal(3, ControlTests.Ctl("-C", daemon.Control, "status").ExitCode);
            AssertGuestsStillTalk(a, b, 4);
        }
        finally
        {
            foreach (UnixSocket socket in hanging) socket.Dispose();
        }
        // Their slots come free as they close.
        Assert.True(SpinWait.SpinUntil(() => ControlTests.Ctl("-C", daemon.Control, "status").ExitCode == 0, TimeSpan.FromSeconds(10)));
    }
}
