using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Capture;

namespace VhostDeviceCan.Control.Commands;

/// <summary><c>capture</c>, <c>capture-stop</c> and <c>captures</c>: captures to files started and
/// stopped at run time. Each one started here gets a number, its id, for this daemon's lifetime;
/// captures started by --capture are listed without one.</summary>
internal sealed class CaptureCommands
{
    private readonly Lock _lock = new();
    private readonly Dictionary<int, CaptureSession> _byId = [];
    private int _lastId;

    public static void Register(ControlCommands table)
    {
        var commands = new CaptureCommands();
        table.Add(new ControlCommand("capture", "start capturing a bus or guest to a file in the daemon, or over this connection (pcapng or candump log)", true, commands.Start));
        table.Add(new ControlCommand("capture-stop", "stop a capture by its id: what it recorded and dropped, how many files", true, commands.Stop));
        table.Add(new ControlCommand("captures", "the captures running, with what they recorded", false, commands.List));
    }

    private static CaptureHub HubOf(ControlContext context) => context.Captures
        ?? throw new ControlException(ControlErrors.Unsupported, "this daemon does not capture");

    private JsonElement Start(ControlRequest request, ControlContext context)
    {
        request.AllowOnly("target", "path", "stream", "format", "max_size", "keep");
        string target = request.RequiredString("target");
        bool stream = request.OptionalBool("stream");
        string? path = request.OptionalString("path");
        if (stream == (path is not null))
            throw new ControlException(ControlErrors.BadRequest, "'capture' needs either 'path', a file, or 'stream': true, this connection");
        if (path is not null && !Path.IsPathFullyQualified(path))
            throw new ControlException(ControlErrors.BadArgument, $"'{path}' is not an absolute path: the daemon does not know the client's directory");
        if (stream && (request.Has("max_size") || request.Has("keep")))
            throw new ControlException(ControlErrors.BadArgument, "a stream is not rotated: 'max_size' and 'keep' are for files");
        CaptureFormat format = (path is null ? null : CaptureFormats.FromFileName(path)) ?? CaptureFormat.Pcapng;
        if (request.OptionalString("format") is { } formatName && !CaptureFormats.TryParse(formatName, out format))
            throw new ControlException(ControlErrors.BadArgument, $"format '{formatName}' is not pcapng or log");
        long maxSize = 0;
        if (request.OptionalString("max_size") is { } sizeText
            && (!CaptureDestination.TryParseSize(sizeText, out maxSize) || maxSize < CaptureDestination.MinMaxSize))
            throw new ControlException(ControlErrors.BadArgument, $"max size '{sizeText}' is not a size from {CaptureDestination.MinMaxSize} bytes (such as 64k, 10M, 1G)");
        int keep = CaptureDestination.DefaultKeep;
        if (request.OptionalString("keep") is { } keepText
            && (!int.TryParse(keepText, NumberStyles.None, CultureInfo.InvariantCulture, out keep) || keep > 1000))
            throw new ControlException(ControlErrors.BadArgument, $"keep '{keepText}' is not a whole number from 0 to 1000");

        CaptureHub hub = HubOf(context);
        // A guest by its socket path is a guest index to the hub.
        if (target.StartsWith('/')) target = context.FindGuest(target).Index.ToString(CultureInfo.InvariantCulture);
        ControlStream? connection = null;
        if (stream)
            connection = request.Channel?.CreateStream()
                ?? throw new ControlException(ControlErrors.Unsupported, "this request came on no connection that can carry a stream");
        CaptureSession session;
        try
        {
            session = hub.Start(target, format, connection is null ? CaptureDestination.ToFile(path!, maxSize, keep)
                : CaptureDestination.ToStream(connection, leaveOpen: true, $"control client {ControlCommands.Who(request.Caller)}", connection.Abort));
        }
        catch (ArgumentException e)
        {
            throw new ControlException(ControlErrors.BadArgument, e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ControlException(ControlErrors.BadArgument, $"{path}: {e.Message}");
        }
        int id;
        lock (_lock)
        {
            id = ++_lastId;
            _byId[id] = session;
        }
        if (connection is not null)
        {
            request.Channel!.StreamAfterReply(connection, () => session.IsRunning, () => StopStream(id, hub, session));
            context.Logger.LogInformation("control: capture {Id}: {Target} streamed to {Caller}", id, session.Target, ControlCommands.Who(request.Caller));
        }
        return ControlJson.ToElement(Describe(id, session), ControlJson.Default.CaptureInfo);
    }

    /// <summary>The reader of a streamed capture left (or the server stops): the capture ends and is forgotten.</summary>
    private void StopStream(int id, CaptureHub hub, CaptureSession session)
    {
        lock (_lock) _byId.Remove(id);
        hub.Stop(session);
    }

    private JsonElement Stop(ControlRequest request, ControlContext context)
    {
        // "id" is the request's own: the capture is named by "capture".
        request.AllowOnly("capture");
        string idText = request.RequiredName("capture");
        CaptureSession? session = null;
        bool known = int.TryParse(idText, NumberStyles.None, CultureInfo.InvariantCulture, out int id);
        lock (_lock)
            if (known && _byId.Remove(id, out session)) { }
        if (session is null)
            throw new ControlException(ControlErrors.NoSuchCapture, $"no capture {idText}: see captures");
        CaptureSummary summary = HubOf(context).Stop(session);
        return ControlJson.ToElement(new CaptureStopped(id, session.Target, session.Destination.Path, summary.Recorded, summary.Dropped,
            summary.Files, summary.Error?.Message), ControlJson.Default.CaptureStopped);
    }

    private JsonElement List(ControlRequest request, ControlContext context)
    {
        request.AllowOnly();
        Dictionary<CaptureSession, int> ids;
        lock (_lock) ids = _byId.ToDictionary(pair => pair.Value, pair => pair.Key);
        var list = HubOf(context).Sessions.Select(s => Describe(ids.TryGetValue(s, out int id) ? id : null, s)).ToList();
        return ControlJson.ToElement(new CaptureList(list), ControlJson.Default.CaptureList);
    }

    private static CaptureInfo Describe(int? id, CaptureSession session) => new(id, session.Target, session.Destination.Path,
        session.Format == CaptureFormat.Pcapng ? "pcapng" : "log", session.IsRunning, session.Recorded, session.Dropped,
        session.Destination.Path is null ? session.Destination.ToString() : null);
}
