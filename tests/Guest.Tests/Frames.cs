using System.Text.RegularExpressions;
using VhostDeviceCan.Can;

namespace VhostDeviceCan.Guest.Tests;

/// <summary>Frames as can-utils write them, compared the way they cross virtio-can 1.4.</summary>
internal static partial class Frames
{
    public static CanFrame Parse(string text)
    {
        // candump marks received FD frames with FDF (0x4) in the flag digit; cansend syntax has
        // only BRS and ESI there.
        text = FdFlagDigit().Replace(text, m => "##" + (Convert.ToInt32(m.Groups[1].Value, 16) & 3).ToString("X", System.Globalization.CultureInfo.InvariantCulture));
        if (!CansendSyntax.TryParse(text, out CanFrame frame, out string? error))
            throw new FormatException($"'{text}': {error}");
        return frame;
    }

    /// <summary>The frame as a guest can observe it after crossing the device: virtio-can 1.4 has no
    /// BRS or ESI bits, so an FD frame keeps only its FD-ness.</summary>
    public static string Canonical(CanFrame frame)
    {
        frame.Flags &= unchecked((byte)~(CanFrame.CANFD_BRS | CanFrame.CANFD_ESI));
        return frame.ToString();
    }

    public static string Canonical(string text) => Canonical(Parse(text));

    /// <summary>"can0 123#DEADBEEF" (candump -L without timestamp) to canonical text.</summary>
    public static string FromCandump(string line) => Canonical(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1]);

    [GeneratedRegex("##([0-9A-Fa-f])")]
    private static partial Regex FdFlagDigit();
}
