using System.Diagnostics;
using System.Text.Json;
using VhostDeviceCan.Can;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Control.Commands;

/// <summary>
/// <c>inject</c>: frames in cansend syntax, either onto a virtual bus as a host node (every guest
/// on it hears them, in order, as from any other member) or into one guest's receive path only.
/// </summary>
internal static class InjectCommand
{
    /// <summary>Frames per request; the line limit allows a few thousand anyway.</summary>
    public const int MaxFrames = 4096;

    /// <summary>How long a host node waits for full inboxes to drain before it reports a partial delivery.</summary>
    private static readonly TimeSpan BusPatience = TimeSpan.FromSeconds(2);

    public static void Register(ControlCommands table) =>
        table.Add(new ControlCommand("inject", "send frames (cansend syntax) onto a virtual bus as a host node, or to one guest only", true, Run));

    private static JsonElement Run(ControlRequest request, ControlContext context)
    {
        request.AllowOnly("target", "frames");
        string target = request.RequiredName("target");
        IReadOnlyList<string> texts = request.RequiredStrings("frames", MaxFrames);
        var frames = new CanFrame[texts.Count];
        for (int i = 0; i < frames.Length; i++)
        {
            if (!CansendSyntax.TryParse(texts[i], out frames[i], out string? error))
                throw new ControlException(ControlErrors.BadArgument, $"frame {i + 1} '{Shorten(texts[i])}': {error}");
        }
        InjectResult result = target.StartsWith("vbus:", StringComparison.Ordinal)
            ? OntoBus(context.FindBus(target), frames)
            : IntoGuest(FindGuestOrRefuse(context, target), frames);
        return ControlJson.ToElement(result, ControlJson.Default.InjectResult);
    }

    private static ControlGuest FindGuestOrRefuse(ControlContext context, string target)
    {
        foreach (ControlGuest guest in context.Guests)
        {
            if (guest.DeviceName == target && guest.BusMember is null)
                throw new ControlException(ControlErrors.Unsupported,
                    $"{target} is a host interface: send onto it with the host's tools (cansend {target} ...), or inject into a guest by index");
        }
        return context.FindGuest(target);
    }

    /// <summary>Through the guest's RX path on its loop, so its RX filter, backlog bound and counters apply.</summary>
    private static InjectResult IntoGuest(ControlGuest guest, CanFrame[] frames)
    {
        var (delivered, started) = guest.OnLoop(device => (device.InjectRx(frames), device.IsStarted));
        string? note = delivered == frames.Length ? null
            : !started ? "the guest's controller is stopped: it takes no frames"
            : "the rest were refused by the guest's RX filter, its full backlog or its negotiated features (see status counters)";
        return new InjectResult($"guest {guest.Index}", frames.Length, delivered, note);
    }

    /// <summary>
    /// A member of its own for the length of the request: it joins, publishes with the bus's
    /// back-pressure (a full inbox makes it wait, at most <see cref="BusPatience"/>), and leaves.
    /// What other members send meanwhile lands in its inbox and is discarded, so that it never is
    /// the full member that holds the others back.
    /// </summary>
    private static InjectResult OntoBus(VirtualCanBus bus, CanFrame[] frames)
    {
        using VirtualCanBusMember node = bus.Join();
        using var retry = new Epoll();
        retry.Add(node.WritePollFd, 0, node.WritePollEvents);
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];
        var tags = new TxTag[frames.Length];
        var heard = new CanFrame[64];
        long start = Stopwatch.GetTimestamp();
        int sent = 0;
        while (sent < frames.Length)
        {
            sent += node.TransmitBatch(frames.AsSpan(sent), tags.AsSpan(sent), out TransmitStatus status);
            if (status == TransmitStatus.Down || sent == frames.Length) break;
            while (node.Receive(heard, default, out _) > 0) { }
            TimeSpan left = BusPatience - Stopwatch.GetElapsedTime(start);
            if (left <= TimeSpan.Zero) break;
            // The retry timer fires when the full member drained or was overrun; the next transmit consumes it.
            retry.Wait(events, (int)Math.Ceiling(Math.Min(left.TotalMilliseconds, 50)));
        }
        string? note = sent == frames.Length ? null : $"a member's inbox stayed full for {BusPatience.TotalSeconds:0} s; the rest were not sent";
        return new InjectResult("vbus:" + bus.Name, frames.Length, sent, note);
    }

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "...";
}
