using System.Globalization;
using System.Text.Json;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Control;

/// <summary>
/// One parsed request line: <c>{"v":1,"id":7,"cmd":"set-filter","guest":0,...}</c>. The
/// command's own fields sit beside <c>v</c>, <c>id</c> and <c>cmd</c>; a handler reads them with
/// the typed getters, which answer a missing or mistyped field with
/// <see cref="ControlErrors.BadRequest"/>, and names the fields it knows with <see cref="AllowOnly"/>
/// so that a misspelt one is an error rather than silently ignored.
/// </summary>
public sealed class ControlRequest : IDisposable
{
    private static readonly string[] EnvelopeFields = ["v", "id", "cmd"];
    private readonly JsonDocument _document;

    private ControlRequest(JsonDocument document, int version, long? id, string command)
    {
        _document = document;
        Version = version;
        Id = id;
        Command = command;
    }

    public int Version { get; }
    public long? Id { get; }
    public string Command { get; }

    /// <summary>Who sent it (SO_PEERCRED of the control connection); null in tests without a socket.</summary>
    public PeerIdentity? Caller { get; init; }

    /// <summary>The connection it came on; null in tests without a socket.</summary>
    public IControlChannel? Channel { get; init; }

    /// <summary>
    /// Parses one line (without its newline). Throws <see cref="ControlException"/>; <paramref name="id"/>
    /// is the request's id as far as it could be read, for the error reply.
    /// </summary>
    public static ControlRequest Parse(ReadOnlyMemory<byte> line, out long? id, PeerIdentity? caller = null, IControlChannel? channel = null)
    {
        id = null;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line, new JsonDocumentOptions { MaxDepth = ControlProtocol.MaxDepth });
        }
        catch (JsonException e)
        {
            throw new ControlException(ControlErrors.BadJson, $"not valid JSON: {FirstSentence(e.Message)}");
        }
        try
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new ControlException(ControlErrors.BadJson, $"a request is a JSON object, not {Describe(root.ValueKind)}");
            if (root.TryGetProperty("id", out JsonElement idElement))
            {
                if (idElement.ValueKind != JsonValueKind.Number || !idElement.TryGetInt64(out long value))
                    throw new ControlException(ControlErrors.BadRequest, "'id' must be a whole number");
                id = value;
            }
            if (!root.TryGetProperty("v", out JsonElement versionElement))
                throw new ControlException(ControlErrors.BadRequest, $"missing 'v', the protocol version (this daemon speaks {ControlProtocol.Version})");
            if (versionElement.ValueKind != JsonValueKind.Number || !versionElement.TryGetInt32(out int version))
                throw new ControlException(ControlErrors.BadRequest, "'v' must be a whole number");
            if (version != ControlProtocol.Version)
                throw new ControlException(ControlErrors.UnsupportedVersion, $"protocol version {version} is not supported; this daemon speaks version {ControlProtocol.Version}");
            if (!root.TryGetProperty("cmd", out JsonElement commandElement) || commandElement.ValueKind != JsonValueKind.String)
                throw new ControlException(ControlErrors.BadRequest, "missing 'cmd', the command's name as a string");
            return new ControlRequest(document, version, id, commandElement.GetString()!) { Caller = caller, Channel = channel };
        }
        catch
        {
            document.Dispose();
            throw;
        }
    }

    private JsonElement Root => _document.RootElement;

    /// <summary>Refuses any field but the envelope's and <paramref name="fields"/>.</summary>
    public void AllowOnly(params string[] fields)
    {
        foreach (JsonProperty property in Root.EnumerateObject())
        {
            if (Array.IndexOf(EnvelopeFields, property.Name) < 0 && Array.IndexOf(fields, property.Name) < 0)
                throw new ControlException(ControlErrors.BadRequest,
                    $"'{Command}' has no field '{property.Name}'" + (fields.Length == 0 ? "" : $" (it takes {string.Join(", ", fields)})"));
        }
    }

    public bool Has(string field) => Root.TryGetProperty(field, out _);

    public string RequiredString(string field) => OptionalString(field)
        ?? throw new ControlException(ControlErrors.BadRequest, $"'{Command}' needs '{field}', a string");

    /// <summary>The field's string, null when absent or JSON null.</summary>
    public string? OptionalString(string field)
    {
        if (!Root.TryGetProperty(field, out JsonElement element) || element.ValueKind == JsonValueKind.Null) return null;
        if (element.ValueKind != JsonValueKind.String)
            throw new ControlException(ControlErrors.BadRequest, $"'{field}' must be a string, not {Describe(element.ValueKind)}");
        return element.GetString();
    }

    /// <summary>The field's boolean, false when absent or JSON null.</summary>
    public bool OptionalBool(string field)
    {
        if (!Root.TryGetProperty(field, out JsonElement element) || element.ValueKind == JsonValueKind.Null) return false;
        return element.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new ControlException(ControlErrors.BadRequest, $"'{field}' must be true or false, not {Describe(element.ValueKind)}"),
        };
    }

    /// <summary>A field that is a string or a whole number, as text ("0" for 0): guests are named either way.</summary>
    public string RequiredName(string field)
    {
        if (!Root.TryGetProperty(field, out JsonElement element))
            throw new ControlException(ControlErrors.BadRequest, $"'{Command}' needs '{field}'");
        return element.ValueKind switch
        {
            JsonValueKind.String => element.GetString()!,
            JsonValueKind.Number when element.TryGetInt64(out long number) => number.ToString(CultureInfo.InvariantCulture),
            _ => throw new ControlException(ControlErrors.BadRequest, $"'{field}' must be a string or a whole number, not {Describe(element.ValueKind)}"),
        };
    }

    public IReadOnlyList<string> RequiredStrings(string field, int maxCount)
    {
        if (!Root.TryGetProperty(field, out JsonElement element) || element.ValueKind != JsonValueKind.Array)
            throw new ControlException(ControlErrors.BadRequest, $"'{Command}' needs '{field}', an array of strings");
        int count = element.GetArrayLength();
        if (count == 0 || count > maxCount)
            throw new ControlException(ControlErrors.BadRequest, $"'{field}' must hold 1 to {maxCount} strings, not {count}");
        var values = new List<string>(count);
        foreach (JsonElement item in element.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
                throw new ControlException(ControlErrors.BadRequest, $"'{field}' must hold strings only, not {Describe(item.ValueKind)}");
            values.Add(item.GetString()!);
        }
        return values;
    }

    /// <summary>The file descriptors that came with the request (commands that take one only).</summary>
    internal ReceivedFds? Attached { get; set; }

    /// <summary>The one file descriptor passed with the request, now the caller's to close; null when none came.</summary>
    public FileDescriptor? TakeFile() => Attached is { Count: 1 } fds ? fds.Take(0) : null;

    /// <summary>Set by a handler whose reply comes later (<see cref="Defer"/>).</summary>
    public IDeferredReply? Deferred { get; private set; }

    /// <summary>The reply comes when <paramref name="pending"/> completes; the handler returns what this returns.</summary>
    public JsonElement Defer(IDeferredReply pending)
    {
        Deferred = pending;
        return default;
    }

    /// <summary>An optional number, null when absent or JSON null.</summary>
    public double? OptionalNumber(string field)
    {
        if (!Root.TryGetProperty(field, out JsonElement element) || element.ValueKind == JsonValueKind.Null) return null;
        if (element.ValueKind != JsonValueKind.Number)
            throw new ControlException(ControlErrors.BadRequest, $"'{field}' must be a number, not {Describe(element.ValueKind)}");
        return element.GetDouble();
    }

    /// <summary>An optional boolean, false when absent.</summary>
    public bool OptionalFlag(string field)
    {
        if (!Root.TryGetProperty(field, out JsonElement element) || element.ValueKind == JsonValueKind.Null) return false;
        return element.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new ControlException(ControlErrors.BadRequest, $"'{field}' must be true or false, not {Describe(element.ValueKind)}"),
        };
    }

    public void Dispose() => _document.Dispose();

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    /// <summary>System.Text.Json's messages end with a hint about .NET options; the first sentence says what is wrong.</summary>
    private static string FirstSentence(string message)
    {
        int end = message.IndexOf(". ", StringComparison.Ordinal);
        return end < 0 ? message.TrimEnd('.') : message[..end];
    }
}
