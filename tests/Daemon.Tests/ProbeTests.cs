using VhostDeviceCan.Guest;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>A second daemon started on a served socket connects to it to learn that it is in use;
/// the serving daemon must not take that look for a guest.</summary>
public sealed class ProbeTests
{
    private static bool AtInfoOrAbove(string line) =>
        line.Contains(" INFO ", StringComparison.Ordinal) || line.Contains(" WARN ", StringComparison.Ordinal)
        || line.Contains(" ERROR ", StringComparison.Ordinal) || line.Contains(" FATAL ", StringComparison.Ordinal);

    private static bool AboutAConnection(string line) =>
        line.Contains("connect", StringComparison.OrdinalIgnoreCase) || line.Contains("session", StringComparison.OrdinalIgnoreCase)
        || line.Contains("front-end", StringComparison.Ordinal);

    /// <summary>Starts a second daemon on <paramref name="first"/>'s socket: it must fail with its one line.</summary>
    private static void ProbeWithSecondDaemon(DaemonProcess first)
    {
        using var second = new ChildProcess("vhost-device-can", ["-s", first.Prefix]);
        Assert.Equal(1, second.WaitForExit());
        Assert.Equal($"vhost-device-can: error: {first.Socket(0)} is in use by another running back-end", Assert.Single(second.Stderr));
    }

    [Fact]
    public void A_second_daemons_probe_is_no_session_in_the_first_daemons_log()
    {
        using var first = DaemonProcess.Start(1, ["-l", "debug"]);
        ProbeWithSecondDaemon(first);
        // "?" when the prober has exited before its name could be read from /proc.
        first.Process.WaitForLog(@"DEBUG can\.sock0: a connection from pid \d+ \((vhost-device-ca|\?)\), uid \d+ ended without a message \(probe\?\)");
        Assert.DoesNotContain(first.Process.Stderr, l => AtInfoOrAbove(l) && AboutAConnection(l) && !l.Contains("listening on", StringComparison.Ordinal));

        // The next guest is the first session: the probe was not counted as one.
        using var guest = VirtioCanGuest.Connect(first.Socket(0));
        Assert.True(guest.Start());
        first.Process.WaitForLog(@"INFO  can\.sock0: front-end connected: pid \d+ .*\(session 1\)$");
    }

    [Fact]
    public void A_second_daemons_probe_while_a_guest_is_attached_is_no_refused_front_end()
    {
        using var first = DaemonProcess.Start(1, ["-l", "debug"]);
        using var guest = VirtioCanGuest.Connect(first.Socket(0));
        Assert.True(guest.Start());
        first.Process.WaitForLog(@"front-end connected");
        ProbeWithSecondDaemon(first);
        first.Process.WaitForLog(@"DEBUG can\.sock0: a connection from pid \d+ \((vhost-device-ca|\?)\), uid \d+ closed without a message while a front-end is attached \(probe\?\)");
        Assert.DoesNotContain(first.Process.Stderr, l => l.Contains("refused", StringComparison.Ordinal) || l.Contains(" WARN ", StringComparison.Ordinal));
        Assert.Single(first.Process.Stderr, l => AtInfoOrAbove(l) && l.Contains("front-end connected", StringComparison.Ordinal));
        Assert.DoesNotContain(first.Process.Stderr, l => AtInfoOrAbove(l) && l.Contains("disconnected", StringComparison.Ordinal));
        // The attached guest never noticed.
        Assert.True(guest.Stop() && guest.Start());
    }
}
