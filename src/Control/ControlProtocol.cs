namespace VhostDeviceCan.Control;

/// <summary>
/// The control socket's protocol (docs/control-protocol.md): JSON lines, one request object per
/// line and one reply object per line, in order. Every message carries the protocol version
/// <c>v</c>; a request names its command in <c>cmd</c> and may carry an <c>id</c> the reply echoes.
/// </summary>
public static class ControlProtocol
{
    /// <summary>The version this side speaks; a request with another gets <see cref="ControlErrors.UnsupportedVersion"/>.</summary>
    public const int Version = 1;

    /// <summary>Longest request line, newline included. Longer: an error reply, then the connection closes.</summary>
    public const int MaxLineBytes = 64 * 1024;

    /// <summary>Deepest JSON nesting a request may use; no command needs more than 3.</summary>
    public const int MaxDepth = 8;
}

/// <summary>The <c>error.code</c> values; stable across versions, so scripts may test them.</summary>
public static class ControlErrors
{
    /// <summary>Not JSON, or not one JSON object.</summary>
    public const string BadJson = "bad-json";
    /// <summary>JSON, but a field is missing, of the wrong type, or unknown to the command.</summary>
    public const string BadRequest = "bad-request";
    public const string UnsupportedVersion = "unsupported-version";
    public const string UnknownCommand = "unknown-command";
    /// <summary>A line longer than <see cref="ControlProtocol.MaxLineBytes"/>; the connection then closes.</summary>
    public const string LineTooLong = "line-too-long";
    /// <summary>File descriptors passed with a request that takes none, or more than one; they are closed and the connection with them.</summary>
    public const string FdsRefused = "fds-refused";
    /// <summary>Every client slot is taken; the connection closes.</summary>
    public const string TooManyClients = "too-many-clients";
    public const string NoSuchGuest = "no-such-guest";
    public const string NoSuchBus = "no-such-bus";
    public const string NoSuchCapture = "no-such-capture";
    public const string NoSuchReplay = "no-such-replay";
    /// <summary>As many replays run as the daemon allows at once.</summary>
    public const string TooManyReplays = "too-many-replays";
    /// <summary>A value the command cannot use: a filter, rate or frame not in its syntax.</summary>
    public const string BadArgument = "bad-argument";
    /// <summary>The target cannot do it (e.g. injecting into a host interface).</summary>
    public const string Unsupported = "unsupported";
    /// <summary>A device's event loop did not take the request in time; nothing was changed.</summary>
    public const string Timeout = "timeout";
    /// <summary>The daemon failed carrying out a valid request; the message says why.</summary>
    public const string Internal = "internal";
}

/// <summary>A request answered with an error reply: <see cref="Code"/> is one of <see cref="ControlErrors"/>.</summary>
public sealed class ControlException(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}
