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
public sealed record ControlCommand(string Name, string Summary, bool ChangesState, ControlHandler Handler);

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

    /// <summary>The commands this daemon has: <c>commands</c>, <c>status</c>, <c>set-filter</c>, <c>set-rate</c>, <c>inject</c>, <c>fault</c>, <c>faults</c>, <c>bus-off</c>, <c>capture</c>, <c>capture-stop</c>, <c>captures</c>, <c>metrics</c>.</summary>
    public static ControlCommands Standard()
    {
        var table = new ControlCommands();
        table.Add(new ControlCommand("commands", "list the commands and the protocol version", false, table.List));
        StatusCommand.Register(table);
        SettingCommands.Register(table);
        InjectCommand.Register(table);
        FaultCommands.Register(table);
        CaptureCommands.Register(table);
        MetricsCommand.Register(table);
        return table;
    }

    /// <summary>Answers one request line (without its newline) from <paramref name="caller"/>.</summary>
    public byte[] Dispatch(ReadOnlyMemory<byte> line, ControlContext context, PeerIdentity? caller, IControlChannel? channel = null)
    {
        long? id = null;
        ControlRequest? request = null;
        try
        {
            request = ControlRequest.Parse(line, out id, caller, channel);
            if (!_commands.TryGetValue(request.Command, out ControlCommand? command))
                throw new ControlException(ControlErrors.UnknownCommand,
                    $"unknown command '{Shorten(request.Command)}'; this daemon knows {string.Join(", ", _commands.Keys.Order(StringComparer.Ordinal))}");
            Log(context.Logger, command, caller, line);
            return ControlReply.Success(id, command.Handler(request, context));
        }
        catch (ControlException e)
        {
            context.Logger.LogDebug("control: {Caller}: error reply {Code}: {Message}", Who(caller), e.Code, e.Message);
            return ControlReply.Failure(id, e.Code, e.Message);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            context.Logger.LogError(e, "control: {Caller}: request failed", Who(caller));
            return ControlReply.Failure(id, ControlErrors.Internal, e.Message);
        }
        finally
        {
            request?.Dispose();
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
