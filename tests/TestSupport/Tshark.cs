using System.Diagnostics;
using System.Globalization;
using VhostDeviceCan.Can;

namespace VhostDeviceCan.TestSupport;

/// <summary>Debian's tshark reading a capture file back, one row of fields per packet.</summary>
public static class Tshark
{
    /// <summary>The fields every capture test compares: interface, direction, identifier, flags, FD bits, length, payload.</summary>
    public static readonly string[] FrameFields =
    [
        "frame.interface_name", "frame.packet_flags_direction", "can.id", "can.flags.xtd", "can.flags.rtr",
        "canfd.flags.brs", "canfd.flags.esi", "can.len", "data.data",
    ];

    /// <summary>
    /// The <see cref="FrameFields"/> row tshark prints for <paramref name="frame"/>, joined by '|':
    /// direction 1 inbound (received by the guest), 2 outbound; the identifier in decimal; the
    /// RTR flag only for classic frames, BRS and ESI only for FD; the data of a remote frame as
    /// its length in zeros, as Wireshark shows it.
    /// </summary>
    public static string Row(string guest, bool received, CanFrame frame)
    {
        string fd(bool on) => frame.IsFd ? (on ? "1" : "0") : "";
        return string.Join('|', guest, received ? "0x00000001" : "0x00000002", frame.Id.ToString(CultureInfo.InvariantCulture),
            frame.IsExtended ? "1" : "0", frame.IsFd ? "" : frame.IsRemote ? "1" : "0",
            fd((frame.Flags & CanFrame.CANFD_BRS) != 0), fd((frame.Flags & CanFrame.CANFD_ESI) != 0),
            frame.Len.ToString(CultureInfo.InvariantCulture), Convert.ToHexStringLower(frame.Data));
    }

    /// <summary><see cref="Fields"/> with each row joined by '|', as <see cref="Row"/> makes them.</summary>
    public static List<string> Rows(string path) => [.. Fields(path).Select(row => string.Join('|', row))];

    /// <summary>Runs <c>tshark -r FILE -T fields</c>; throws with its output when it fails or
    /// complains (an unreadable block is a warning on stderr, not an exit status).</summary>
    public static List<string[]> Fields(string path, IReadOnlyList<string>? fields = null)
    {
        var start = new ProcessStartInfo("tshark") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // AUTOSAR network management claims identifier 0 by heuristics, hiding the payload from data.data.
        foreach (string argument in (string[])["-r", path, "--disable-protocol", "autosar-nm", "-T", "fields", "-E", "separator=|", "-E", "occurrence=f"])
            start.ArgumentList.Add(argument);
        foreach (string field in fields ?? FrameFields)
        {
            start.ArgumentList.Add("-e");
            start.ArgumentList.Add(field);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start tshark");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill();
            throw new TimeoutException($"tshark -r {path} did not end");
        }
        // As root tshark warns that it runs as root; nothing else may appear.
        string complaints = string.Join('\n', stderr.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(line => !line.StartsWith("Running as user \"root\"", StringComparison.Ordinal)));
        if (process.ExitCode != 0 || complaints.Length > 0)
            throw new InvalidOperationException($"tshark -r {path} exited {process.ExitCode}: {complaints}");
        return [.. stdout.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split('|'))];
    }
}
