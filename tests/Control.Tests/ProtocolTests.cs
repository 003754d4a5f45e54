using System.Text;
using System.Text.Json;
using VhostDeviceCan.Control;

namespace VhostDeviceCan.Control.Tests;

/// <summary>The request and reply codecs: every malformed line gets the right error code, replies
/// have the documented shape byte for byte.</summary>
public sealed class ProtocolTests
{
    private static readonly ControlContext NoGuests = new([], "9.9.9", new RecordingLogger());

    private static JsonElement Answer(string line)
    {
        byte[] reply = ControlCommands.Standard().Dispatch(Encoding.UTF8.GetBytes(line), NoGuests, null);
        Assert.Equal((byte)'\n', reply[^1]);
        Assert.Equal(1, reply.Count(b => b == '\n'));
        return JsonDocument.Parse(reply).RootElement.Clone();
    }

    private static string ErrorCode(JsonElement reply)
    {
        Assert.False(reply.GetProperty("ok").GetBoolean());
        return reply.GetProperty("error").GetProperty("code").GetString()!;
    }

    [Theory]
    [InlineData("garbage", "bad-json")]
    [InlineData("{\"v\":1,\"cmd\":\"status\"", "bad-json")]
    [InlineData("[1,2,3]", "bad-json")]
    [InlineData("\"status\"", "bad-json")]
    [InlineData("{\"v\":1,\"cmd\":\"status\"}{\"v\":1}", "bad-json")]
    [InlineData("{\"v\":1,\"cmd\":\"status\",\"x\":[[[[[[[[[[1]]]]]]]]]]}", "bad-json")]
    [InlineData("{\"cmd\":\"status\"}", "bad-request")]
    [InlineData("{\"v\":\"1\",\"cmd\":\"status\"}", "bad-request")]
    [InlineData("{\"v\":1.5,\"cmd\":\"status\"}", "bad-request")]
    [InlineData("{\"v\":1}", "bad-request")]
    [InlineData("{\"v\":1,\"cmd\":7}", "bad-request")]
    [InlineData("{\"v\":1,\"id\":\"seven\",\"cmd\":\"status\"}", "bad-request")]
    [InlineData("{\"v\":1,\"cmd\":\"status\",\"verbose\":true}", "bad-request")]
    [InlineData("{\"v\":2,\"cmd\":\"status\"}", "unsupported-version")]
    [InlineData("{\"v\":0,\"cmd\":\"status\"}", "unsupported-version")]
    [InlineData("{\"v\":1,\"cmd\":\"teleport\"}", "unknown-command")]
    [InlineData("{\"v\":1,\"cmd\":\"\"}", "unknown-command")]
    [InlineData("{\"v\":1,\"cmd\":\"set-filter\",\"guest\":0,\"direction\":\"tx\",\"filter\":\"100\"}", "no-such-guest")]
    [InlineData("{\"v\":1,\"cmd\":\"set-filter\",\"guest\":[0],\"direction\":\"tx\",\"filter\":\"100\"}", "bad-request")]
    [InlineData("{\"v\":1,\"cmd\":\"set-rate\",\"guest\":0}", "bad-request")]
    [InlineData("{\"v\":1,\"cmd\":\"inject\",\"target\":\"vbus:default\",\"frames\":[]}", "bad-request")]
    [InlineData("{\"v\":1,\"cmd\":\"inject\",\"target\":\"vbus:default\",\"frames\":[\"12#00\"]}", "bad-argument")]
    [InlineData("{\"v\":1,\"cmd\":\"inject\",\"target\":\"vbus:default\",\"frames\":[\"123#00\"]}", "no-such-bus")]
    [InlineData("{\"v\":1,\"cmd\":\"inject\",\"target\":\"vbus:default\",\"frames\":[1]}", "bad-request")]
    [InlineData("{\"v\":1,\"cmd\":\"capture\",\"target\":\"all\",\"path\":\"/tmp/x.pcapng\",\"stream\":true}", "bad-request")]
    [InlineData("{\"v\":1,\"cmd\":\"capture\",\"target\":\"all\"}", "bad-request")]
    [InlineData("{\"v\":1,\"cmd\":\"capture\",\"target\":\"all\",\"stream\":\"yes\"}", "bad-request")]
    [InlineData("{\"v\":1,\"cmd\":\"capture\",\"target\":\"all\",\"stream\":true,\"max_size\":\"1M\"}", "bad-argument")]
    [InlineData("{\"v\":1,\"cmd\":\"capture\",\"target\":\"all\",\"stream\":true}", "unsupported")]
    [InlineData("{\"v\":1,\"cmd\":\"metrics\",\"format\":\"json\"}", "bad-request")]
    [InlineData("{\"v\":1,\"cmd\":\"metrics\"}", "unsupported")]
    public void A_bad_request_gets_its_error_code(string line, string code) => Assert.Equal(code, ErrorCode(Answer(line)));

    [Fact]
    public void The_unsupported_version_error_names_the_supported_one()
    {
        JsonElement reply = Answer("{\"v\":3,\"id\":4,\"cmd\":\"status\"}");
        Assert.Equal(4, reply.GetProperty("id").GetInt64());
        Assert.Contains("speaks version 1", reply.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public void An_unknown_command_error_lists_the_known_ones_and_echoes_the_id()
    {
        JsonElement reply = Answer("{\"v\":1,\"id\":12,\"cmd\":\"teleport\"}");
        Assert.Equal(12, reply.GetProperty("id").GetInt64());
        Assert.Equal("unknown command 'teleport'; this daemon knows bus-off, capture, capture-stop, captures, commands, fault, faults, inject, metrics, replay, replay-stop, replays, set-filter, set-rate, status",
            reply.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public void Replies_have_the_documented_shape()
    {
        Assert.Equal("{\"v\":1,\"id\":3,\"ok\":false,\"error\":{\"code\":\"bad-json\",\"message\":\"it's bad\"}}\n",
            Encoding.UTF8.GetString(ControlReply.Failure(3, "bad-json", "it's bad")));
        using JsonDocument result = JsonDocument.Parse("{\"a\":[1,\"x\"]}");
        Assert.Equal("{\"v\":1,\"id\":null,\"ok\":true,\"result\":{\"a\":[1,\"x\"]}}\n",
            Encoding.UTF8.GetString(ControlReply.Success(null, result.RootElement)));
    }

    [Fact]
    public void Replies_parse_back()
    {
        ControlReply failure = ControlReply.Parse(ControlReply.Failure(9, "timeout", "slow").AsSpan()[..^1]);
        Assert.Equal((9L, false, "timeout", "slow"), (failure.Id!.Value, failure.Ok, failure.ErrorCode!, failure.ErrorMessage!));
        Assert.Throws<FormatException>(() => ControlReply.Parse("{\"v\":1,\"id\":1}"u8));
        Assert.Throws<FormatException>(() => ControlReply.Parse("{\"v\":2,\"id\":1,\"ok\":true}"u8));
    }

    [Fact]
    public void Metrics_reply_with_the_daemons_exposition_text_as_it_is()
    {
        const string Text = "# HELP x_total A \"quoted\" help.\n# TYPE x_total counter\nx_total{guest=\"0\"} 3\n";
        var context = new ControlContext([], "9.9.9", new RecordingLogger(), metrics: () => Encoding.UTF8.GetBytes(Text));
        byte[] line = ControlCommands.Standard().Dispatch("{\"v\":1,\"id\":2,\"cmd\":\"metrics\"}"u8.ToArray(), context, null);
        Assert.Equal(1, line.Count(b => b == '\n'));
        JsonElement result = JsonDocument.Parse(line).RootElement.GetProperty("result");
        Assert.Equal(Text, result.GetProperty("text").GetString());
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", result.GetProperty("content_type").GetString());
    }

    [Fact]
    public void Status_of_a_daemon_without_guests_is_well_formed()
    {
        JsonElement reply = Answer("{\"v\":1,\"id\":1,\"cmd\":\"status\"}");
        Assert.True(reply.GetProperty("ok").GetBoolean());
        StatusResult status = reply.GetProperty("result").Deserialize(ControlJson.Default.StatusResult)!;
        Assert.Equal(("9.9.9", 1, 0, 0), (status.Version, status.Protocol, status.Guests.Count, status.Buses.Count));
    }

    [Fact]
    public void A_command_is_one_table_entry_and_a_name_is_taken_once()
    {
        ControlCommands table = ControlCommands.Standard();
        table.Add(new ControlCommand("echo", "answers its text", false, (request, _) =>
        {
            request.AllowOnly("text");
            using JsonDocument document = JsonDocument.Parse(JsonSerializer.Serialize(request.RequiredString("text"), JsonContext.Default.String));
            return document.RootElement.Clone();
        }));
        byte[] reply = table.Dispatch("{\"v\":1,\"id\":2,\"cmd\":\"echo\",\"text\":\"hi\"}"u8.ToArray(), NoGuests, null);
        Assert.Equal("{\"v\":1,\"id\":2,\"ok\":true,\"result\":\"hi\"}\n", Encoding.UTF8.GetString(reply));
        Assert.Throws<ArgumentException>(() => table.Add(new ControlCommand("status", "again", false, (_, _) => default)));
    }

    [Fact]
    public void A_handler_that_fails_unexpectedly_gets_an_internal_error_reply()
    {
        ControlCommands table = ControlCommands.Standard();
        table.Add(new ControlCommand("broken", "throws", false, (_, _) => throw new NullReferenceException("oops")));
        Assert.Equal("internal", ErrorCode(JsonDocument.Parse(table.Dispatch("{\"v\":1,\"cmd\":\"broken\"}"u8.ToArray(), NoGuests, null)).RootElement));
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class JsonContext : System.Text.Json.Serialization.JsonSerializerContext;
