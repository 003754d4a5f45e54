using System.Text;
using System.Text.Json;
using VhostDeviceCan.Control;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Control.Tests;

/// <summary>The control server's bounds, on a real Unix socket with small limits: slots, silent
/// clients and clients that stop reading cost it nothing lasting.</summary>
public sealed class ServerTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("vdc-ctl-").FullName;
    private readonly RecordingLogger _log = new(Microsoft.Extensions.Logging.LogLevel.Debug);
    private readonly ControlServer _server;

    public ServerTests()
    {
        string path = Path.Combine(_directory, "c.ctl");
        _server = ControlServer.Serve(UnixSocket.Listen(path, 8), path, ControlCommands.Standard(),
            new ControlContext([], "1.0.0", _log), _log,
            new ControlServerLimits { MaxClients = 2, IdleTimeout = TimeSpan.FromMilliseconds(300), MaxPendingReplyBytes = 4096 });
    }

    private UnixSocket Connect()
    {
        var socket = UnixSocket.Connect(_server.Path!);
        socket.SetTimeouts(TimeSpan.FromSeconds(5));
        return socket;
    }

    /// <summary>One reply line, or null at end of stream.</summary>
    private static string? ReadLine(UnixSocket socket)
    {
        var line = new List<byte>();
        Span<byte> one = stackalloc byte[1];
        while (socket.Receive(one, null) == 1)
        {
            if (one[0] == '\n') return Encoding.UTF8.GetString([.. line]);
            line.Add(one[0]);
        }
        return line.Count == 0 ? null : throw new EndOfStreamException("half a reply");
    }

    private static string Code(string reply) =>
        JsonDocument.Parse(reply).RootElement.GetProperty("error").GetProperty("code").GetString()!;

    [Fact]
    public void Requests_on_one_connection_are_answered_in_order()
    {
        using var client = Connect();
        client.Send("{\"v\":1,\"id\":1,\"cmd\":\"status\"}\n\n{\"v\":1,\"id\":2,\"cmd\":\"nope\"}\r\n{\"v\":1,\"id\":3,\"cmd\":\"commands\"}\n"u8);
        for (int id = 1; id <= 3; id++)
            Assert.Equal(id, JsonDocument.Parse(ReadLine(client)!).RootElement.GetProperty("id").GetInt64());
    }

    [Fact]
    public void A_client_beyond_the_limit_is_told_and_closed_and_a_freed_slot_is_reused()
    {
        using var first = Connect();
        using var second = Connect();
        // Both accepted (a request answered) before the third comes.
        first.Send("{\"v\":1,\"cmd\":\"commands\"}\n"u8);
        second.Send("{\"v\":1,\"cmd\":\"commands\"}\n"u8);
        Assert.NotNull(ReadLine(first));
        Assert.NotNull(ReadLine(second));
        using (var third = Connect())
        {
            Assert.Equal("too-many-clients", Code(ReadLine(third)!));
            Assert.Null(ReadLine(third));
        }
        first.Dispose();
        Assert.True(SpinWait.SpinUntil(() => _server.ClientCount == 1, TimeSpan.FromSeconds(5)));
        using var fourth = Connect();
        fourth.Send("{\"v\":1,\"cmd\":\"status\"}\n"u8);
        Assert.True(JsonDocument.Parse(ReadLine(fourth)!).RootElement.GetProperty("ok").GetBoolean());
    }

    [Fact]
    public void A_silent_client_is_dropped_after_the_idle_bound()
    {
        using var silent = Connect();
        silent.Send("{\"v\":1,"u8);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.Null(ReadLine(silent));
        Assert.InRange(clock.ElapsedMilliseconds, 250, 4000);
        Assert.Contains(_log.Lines, l => l.Contains("no request for", StringComparison.Ordinal));
    }

    [Fact]
    public void A_client_that_stops_reading_is_dropped_and_the_server_serves_others()
    {
        using var greedy = Connect();
        byte[] requests = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("{\"v\":1,\"cmd\":\"commands\"}\n", 200)));
        try
        {
            for (int i = 0; i < 2000; i++) greedy.Send(requests);
        }
        catch (SyscallException)
        {
            // EPIPE or ECONNRESET: the server has dropped it, as it should.
        }
        Assert.True(SpinWait.SpinUntil(() => _log.Lines.Any(l => l.Contains("bytes of replies unread", StringComparison.Ordinal)), TimeSpan.FromSeconds(10)),
            string.Join('\n', _log.Lines));
        using var other = Connect();
        other.Send("{\"v\":1,\"cmd\":\"status\"}\n"u8);
        Assert.NotNull(ReadLine(other));
    }

    public void Dispose()
    {
        _server.Dispose();
        Assert.False(File.Exists(Path.Combine(_directory, "c.ctl")), "the server left its socket file");
        Directory.Delete(_directory, recursive: true);
    }
}
