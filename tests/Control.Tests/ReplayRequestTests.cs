using System.Text;
using System.Text.Json;

namespace VhostDeviceCan.Control.Tests;

/// <summary>The replay commands' fields: every value out of range or of the wrong type gets its
/// error before any file or bus is looked at.</summary>
public sealed class ReplayRequestTests
{
    private static readonly ControlContext NoGuests = new([], "9.9.9", new RecordingLogger());

    private static JsonElement Answer(string line) =>
        JsonDocument.Parse(ControlCommands.Standard().Dispatch(Encoding.UTF8.GetBytes(line), NoGuests, null)).RootElement.Clone();

    private static string ErrorCode(JsonElement reply)
    {
        Assert.False(reply.GetProperty("ok").GetBoolean(), reply.ToString());
        return reply.GetProperty("error").GetProperty("code").GetString()!;
    }

    [Theory]
    [InlineData("\"speed\":0", "bad-argument")]
    [InlineData("\"speed\":-2", "bad-argument")]
    [InlineData("\"speed\":5000", "bad-argument")]
    [InlineData("\"speed\":\"2\"", "bad-request")]
    [InlineData("\"fast\":true,\"speed\":2", "bad-argument")]
    [InlineData("\"fast\":1", "bad-request")]
    [InlineData("\"loop\":-1", "bad-argument")]
    [InlineData("\"loop\":1.5", "bad-argument")]
    [InlineData("\"loop\":1e12", "bad-argument")]
    [InlineData("\"interface\":\"\"", "bad-argument")]
    [InlineData("\"interface\":\"a very long interface\"", "bad-argument")]
    [InlineData("\"interface\":\"can 0\"", "bad-argument")]
    [InlineData("\"detach\":\"yes\"", "bad-request")]
    [InlineData("\"path\":\"/tmp/x.log\"", "bad-request")]
    [InlineData("\"speed\":2,\"loop\":0,\"interface\":\"can0\",\"detach\":true", "no-such-bus")]
    [InlineData("\"fast\":true", "no-such-bus")]
    public void Replay_fields_are_checked_before_the_target(string fields, string code) =>
        Assert.Equal(code, ErrorCode(Answer($"{{\"v\":1,\"cmd\":\"replay\",\"target\":\"vbus:default\",{fields}}}")));

    [Fact]
    public void A_replay_needs_a_target_and_a_guest_target_must_exist()
    {
        Assert.Equal("bad-request", ErrorCode(Answer("{\"v\":1,\"cmd\":\"replay\"}")));
        Assert.Equal("no-such-guest", ErrorCode(Answer("{\"v\":1,\"cmd\":\"replay\",\"target\":3}")));
    }

    [Fact]
    public void Replays_lists_none_and_replay_stop_names_an_unknown_id()
    {
        JsonElement list = Answer("{\"v\":1,\"cmd\":\"replays\"}");
        Assert.True(list.GetProperty("ok").GetBoolean());
        Assert.Equal(0, list.GetProperty("result").GetProperty("replays").GetArrayLength());
        Assert.Equal("no-such-replay", ErrorCode(Answer("{\"v\":1,\"cmd\":\"replay-stop\",\"replay\":7}")));
        Assert.Equal("no-such-replay", ErrorCode(Answer("{\"v\":1,\"cmd\":\"replay-stop\",\"replay\":\"x\"}")));
        Assert.Equal("bad-request", ErrorCode(Answer("{\"v\":1,\"cmd\":\"replay-stop\"}")));
    }

    [Fact]
    public void The_commands_list_has_the_replay_commands()
    {
        JsonElement commands = Answer("{\"v\":1,\"cmd\":\"commands\"}").GetProperty("result").GetProperty("commands");
        string[] names = [.. commands.EnumerateArray().Select(c => c.GetProperty("name").GetString()!)];
        Assert.Contains("replay", names);
        Assert.Contains("replays", names);
        Assert.Contains("replay-stop", names);
    }
}
