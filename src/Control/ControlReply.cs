using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace VhostDeviceCan.Control;

/// <summary>
/// Reply lines: <c>{"v":1,"id":7,"ok":true,"result":{...}}</c> or
/// <c>{"v":1,"id":7,"ok":false,"error":{"code":"unknown-command","message":"..."}}</c>, each
/// ended by a newline. <c>id</c> is the request's, or null when it had none or could not be read.
/// </summary>
public sealed record ControlReply(long? Id, bool Ok, JsonElement Result, string? ErrorCode, string? ErrorMessage)
{
    public static byte[] Success(long? id, JsonElement result) => Write(id, writer =>
    {
        writer.WriteBoolean("ok", true);
        writer.WritePropertyName("result");
        result.WriteTo(writer);
    });

    public static byte[] Failure(long? id, string code, string message) => Write(id, writer =>
    {
        writer.WriteBoolean("ok", false);
        writer.WriteStartObject("error");
        writer.WriteString("code", code);
        writer.WriteString("message", message);
        writer.WriteEndObject();
    });

    private static byte[] Write(long? id, Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        // Relaxed escaping: replies are read by people too, and ' or < need no escape outside HTML.
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteNumber("v", ControlProtocol.Version);
            if (id is { } value) writer.WriteNumber("id", value);
            else writer.WriteNull("id");
            body(writer);
            writer.WriteEndObject();
        }
        buffer.Write("\n"u8);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Reads a reply line (client side); a <see cref="JsonException"/> or
    /// <see cref="FormatException"/> when it is no reply of this protocol. The result is a clone,
    /// valid after the line is gone.</summary>
    public static ControlReply Parse(ReadOnlySpan<byte> line)
    {
        var reader = new Utf8JsonReader(line, new JsonReaderOptions { MaxDepth = 64 });
        using JsonDocument document = JsonDocument.ParseValue(ref reader);
        JsonElement root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("ok", out JsonElement ok)
            || ok.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            throw new FormatException("the reply is not a control protocol reply (no 'ok')");
        if (!root.TryGetProperty("v", out JsonElement version) || !version.TryGetInt32(out int v) || v != ControlProtocol.Version)
            throw new FormatException($"the reply is not of control protocol version {ControlProtocol.Version}");
        long? id = root.TryGetProperty("id", out JsonElement idElement) && idElement.ValueKind == JsonValueKind.Number
            ? idElement.GetInt64() : null;
        if (ok.GetBoolean())
        {
            JsonElement result = root.TryGetProperty("result", out JsonElement r) ? r.Clone() : default;
            return new ControlReply(id, true, result, null, null);
        }
        if (!root.TryGetProperty("error", out JsonElement error) || error.ValueKind != JsonValueKind.Object)
            throw new FormatException("an error reply without 'error'");
        string code = error.TryGetProperty("code", out JsonElement c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : "?";
        string message = error.TryGetProperty("message", out JsonElement m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : "";
        return new ControlReply(id, false, default, code, message);
    }
}
