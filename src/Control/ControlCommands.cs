using System.Text.Json;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Control.Commands;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Control;

/// <summary>A command's handler: reads its fields from the request, does its work (on a guest's
/// loop through <see cref="ControlGuest.OnLoop"/> when it changes a device), and returns its
/// result, or throws <see cref="ControlException"/> for an error reply.</summary>
public delegate JsonElement ControlHandler(ControlRequest request, ControlContext context);

/// <summary>One entry of the dispatch table. <see cref="ChangesState"/> commands are logged at info
/// level with their caller, the others at debug level.</summary>
public sealed record ControlCommand(string Name, string Summary, bool ChangesState, ControlHandler Handler)
{
    /// <summary>The request may carry one file descriptor (SCM_RIGHTS), taken with
    /// <see cref="ControlRequest.TakeFile"/>. A request for any other command that carries one,
    /// or one carrying several, is refused and its connection closed.</summary>
    public bool TakesFile { get; init; }
}

/// <summary>
/// A reply that comes when work started by the request ends (a replay the client waits for).
/// The connection answers nothing else meanwhile; a client that goes away abandons the work.
/// </summary>
public interface IDeferredReply
{
    bool IsComplete { get; }

    /// <summary>Once complete: the result, or a <see cref="ControlException"/> for an error reply.</summary>
    JsonElement Result();

    /// <summary>Calls <paramref name="completed"/> (from any thread) once complete; at once if it is already.</summary>
    void OnComplete(Action completed);

    /// <summary>The client is gone: stop the work.</summary>
    void Abandon();
}

/// <summary>What a request line led to: a reply to send now, or one deferred, and whether the
/// connection must close (file descriptors where none belong).</summary>
public readonly record struct DispatchOutcome(byte[]? Reply, IDeferredReply? Deferred, bool Close);

/// <summary>
/// The dispatch table: command name to handler. A command is one <see cref="Add"/> call; the
/// table answers every line, whatever it holds, with exactly one reply line and never throws.
/// </summary>
public sealed class ControlCommands
{
    private readonly Dictionary<string, ControlCommand> _commands = new(StringComparer.Ordinal);

    public IEnumerable<ControlCommand> All => _commands.Values;

    public void Add(ControlCommand command)
    {
        if (!_commands.TryAdd(command.Name, command))
            throw new ArgumentException($"control command '{command.Name}' is already registered", nameof(command));
    }

    /// <summary>The commands this daemon has: <c>commands</c>, <c>status</c>, <c>set-filter</c>, <c>set-rate</c>, <c>inject</c>, <c>fault</c>, <c>faults</c>, <c>bus-off</c>, <c>capture</c>, <c>capture-stop</c>, <c>captures</c>, <c>replay</c>, <c>replay-stop</c>, <c>replays</c>, <c>metrics</c>.</summary>
    public static ControlCommands Standard()
    {
        var table = new ControlCommands();
        table.Add(new ControlCommand("commands", "list the commands and the protocol version", false, table.List));
        StatusCommand.Register(table);
        SettingCommands.Register(table);
        InjectCommand.Register(table);
        FaultCommands.Register(table);
        CaptureCommands.Register(table);
        ReplayCommands.Register(table);
        MetricsCommand.Register(table);
        return table;
    }

    /// <summary>Answers one request line (without its newline) from <paramref name="caller"/>.</summary>
    public byte[] Dispatch(ReadOnlyMemory<byte> line, ControlContext context, PeerIdentity? caller, IControlChannel? channel = null)
    {
        DispatchOutcome outcome = Dispatch(line, context, caller, fds: null, channel);
        if (outcome.Deferred is { } deferred)
        {
            // Without a connection to wait on, a deferred reply is waited for here.
            using var done = new ManualResetEventSlim();
            deferred.OnComplete(done.Set);
            done.Wait();
            return Complete(null, deferred);
        }
        return outcome.Reply!;
    }

    /// <summary>
    /// Answers one request line that came with <paramref name="fds"/> (null or empty: none). The
    /// fds the command did not take stay in <paramref name="fds"/> for the caller to close.
    /// </summary>
    public DispatchOutcome Dispatch(ReadOnlyMemory<byte> line, ControlContext context, PeerIdentity? caller, ReceivedFds? fds, IControlChannel? channel = null)
    {
        long? id = null;
        ControlRequest? request = null;
        bool carriesFds = fds is { Count: > 0 };
        try
        {
            request = ControlRequest.Parse(line, out id, caller, channel);
            if (!_commands.TryGetValue(request.Command, out ControlCommand? command))
                throw new ControlException(ControlErrors.UnknownCommand,
                    $"unknown command '{Shorten(request.Command)}'; this daemon knows {string.Join(", ", _commands.Keys.Order(StringComparer.Ordinal))}");
            if (carriesFds && (!command.TakesFile || fds!.Count != 1))
                throw new ControlException(ControlErrors.FdsRefused, command.TakesFile
                    ? $"'{command.Name}' takes one file descriptor, not {fds!.Count}; the connection closes"
                    : $"'{command.Name}' takes no file descriptors; the connection closes");
            request.Attached = fds;
            Log(context.Logger, command, caller, line);
            JsonElement result = command.Handler(request, context);
            if (request.Deferred is { } deferred) return new DispatchOutcome(null, deferred, false);
            return new DispatchOutcome(ControlReply.Success(id, result), null, false);
        }
        catch (ControlException e)
        {
            context.Logger.LogDebug("control: {Caller}: error reply {Code}: {Message}", Who(caller), e.Code, e.Message);
            // A request that brought fds where none belong is hostile or confused: no more from it.
            bool close = e.Code == ControlErrors.FdsRefused || (carriesFds && request?.Attached is null);
            if (close)
                context.Logger.LogWarning("control: {Caller} passed {Count} file descriptor(s); closed them and the connection: {Message}",
                    Who(caller), fds!.Count, e.Message);
            return new DispatchOutcome(ControlReply.Failure(id, e.Code, e.Message), null, close);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            context.Logger.LogError(e, "control: {Caller}: request failed", Who(caller));
            return new DispatchOutcome(ControlReply.Failure(id, ControlErrors.Internal, e.Message), null, false);
        }
        finally
        {
            request?.Dispose();
        }
    }

    /// <summary>The reply line of a deferred reply that has completed.</summary>
    public static byte[] Complete(long? id, IDeferredReply deferred)
    {
        try
        {
            return ControlReply.Success(id, deferred.Result());
        }
        catch (ControlException e)
        {
            return ControlReply.Failure(id, e.Code, e.Message);
        }
    }

    private JsonElement List(ControlRequest request, ControlContext context)
    {
        request.AllowOnly();
        var commands = _commands.Values.OrderBy(c => c.Name, StringComparer.Ordinal).Select(c => new CommandInfo(c.Name, c.Summary)).ToList();
        return ControlJson.ToElement(new CommandList(ControlProtocol.Version, commands), ControlJson.Default.CommandList);
    }

    private static void Log(ILogger logger, ControlCommand command, PeerIdentity? caller, ReadOnlyMemory<byte> line)
    {
        LogLevel level = command.ChangesState ? LogLevel.Information : LogLevel.Debug;
        if (!logger.IsEnabled(level)) return;
        logger.Log(level, "control: {Caller}: {Request}", Who(caller), Shorten(System.Text.Encoding.UTF8.GetString(line.Span)));
    }

    internal static string Who(PeerIdentity? caller) => caller?.ToString() ?? "unknown peer";

    private static string Shorten(string text) => text.Length <= 200 ? text : text[..200] + "...";
}
