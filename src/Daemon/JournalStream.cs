using System.Globalization;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon;

/// <summary>
/// Whether stderr is connected to the systemd journal. systemd sets $JOURNAL_STREAM to
/// "DEVICE:INODE" (decimal) of the stream it connected to the journal (systemd.exec(5)); the
/// variable is inherited by children whose stderr may have been redirected since, so only a match
/// with what fd 2 is now counts.
/// </summary>
internal static class JournalStream
{
    public const string Variable = "JOURNAL_STREAM";
    private const int StandardError = 2;

    public static bool IsStandardError(string? value)
    {
        if (string.IsNullOrEmpty(value)) return false;
        int colon = value.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0
            || !ulong.TryParse(value.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out ulong device)
            || !ulong.TryParse(value.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out ulong inode))
            return false;
        return FileIdentity.Of(StandardError) == new FileIdentity(device, inode);
    }
}

/// <summary>
/// The one line a daemon that cannot start leaves on stderr: "vhost-device-can: error: ...", with
/// journald's error priority in front when stderr is the journal, so that `journalctl -p err`
/// shows why a service failed to start.
/// </summary>
internal static class StartupError
{
    public static void Write(string? message)
    {
        string prefix = JournalStream.IsStandardError(Environment.GetEnvironmentVariable(JournalStream.Variable)) ? "<3>" : "";
        Console.Error.WriteLine($"{prefix}vhost-device-can: error: {message}");
    }
}
