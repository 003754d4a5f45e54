using System.Globalization;
using System.Text;

namespace VhostDeviceCan.Can;

/// <summary>
/// Frames written the way can-utils' cansend takes them:
/// <c>123#DEADBEEF</c> (standard ID, 3 hex digits), <c>1F334455#11.22</c> (extended ID, 8 digits),
/// <c>123#R</c> or <c>123#R4</c> (remote request with DLC), <c>123##1DEADBEEF</c> (CAN FD; the
/// hex digit after ## holds the FD flags, 1 = BRS, 2 = ESI, 0-F all taken as cansend takes them).
/// Data bytes may be separated by dots. Like cansend, a CAN FD payload whose length is no FD
/// length (9-11, 13-15, ...) is padded with zero bytes up to the next one.
/// </summary>
public static class CansendSyntax
{
    public static bool TryParse(string text, out CanFrame frame, out string? error) => TryParse(text.AsSpan(), out frame, out error);

    /// <summary>The same from a span (a line of a log being read): allocates only for an error.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out CanFrame frame, out string? error)
    {
        frame = default;
        error = null;
        int hash = text.IndexOf('#');
        if (hash < 0) return Fail("missing '#' between ID and data", out error);
        ReadOnlySpan<char> idText = text[..hash];
        bool extended;
        if (idText.Length == 3) extended = false;
        else if (idText.Length == 8) extended = true;
        else return Fail($"ID '{idText}' must be 3 hex digits (standard) or 8 (extended)", out error);
        if (!uint.TryParse(idText, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint id))
            return Fail($"ID '{idText}' is not hexadecimal", out error);
        if (!extended && id > CanFrame.CAN_SFF_MASK) return Fail($"standard ID 0x{id:X} is above 0x7FF", out error);
        if (extended && id > CanFrame.CAN_EFF_MASK) return Fail($"extended ID 0x{id:X} is above 0x1FFFFFFF", out error);

        ReadOnlySpan<char> rest = text[(hash + 1)..];
        if (rest.StartsWith('#'))
        {
            if (rest.Length < 2 || !byte.TryParse(rest.Slice(1, 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte fdFlags))
                return Fail("CAN FD frames need a hex flags digit after '##' (1 = BRS, 2 = ESI)", out error);
            Span<byte> data = stackalloc byte[CanFrame.CANFD_MAX_DLEN];
            if (!TryParseData(rest[2..], data, out int length, out error)) return false;
            // Fd rounds the length up to the next FD length and pads with zeros, as cansend does.
            frame = CanFrame.Fd(id, extended, data[..length], fdFlags);
            return true;
        }
        if (rest.StartsWith('R') || rest.StartsWith('r'))
        {
            int dlc = 0;
            if (rest.Length > 1 && (!int.TryParse(rest[1..], NumberStyles.None, CultureInfo.InvariantCulture, out dlc) || dlc > 8))
                return Fail($"remote request length '{rest[1..]}' must be 0 to 8", out error);
            frame = CanFrame.Remote(id, extended, dlc);
            return true;
        }
        Span<byte> classic = stackalloc byte[CanFrame.CAN_MAX_DLEN];
        if (!TryParseData(rest, classic, out int classicLength, out error)) return false;
        frame = CanFrame.Classic(id, extended, classic[..classicLength]);
        return true;
    }

    private static bool TryParseData(ReadOnlySpan<char> text, Span<byte> destination, out int length, out string? error)
    {
        length = 0;
        error = null;
        int i = 0;
        while (i < text.Length)
        {
            if (text[i] == '.') { i++; continue; }
            if (i + 1 >= text.Length) return Fail($"data '{text}' has an odd number of hex digits", out error);
            if (length == destination.Length) return Fail($"more than {destination.Length} data bytes", out error);
            if (!byte.TryParse(text.Slice(i, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out destination[length]))
                return Fail($"'{text.Slice(i, 2)}' is not a hex byte", out error);
            length++;
            i += 2;
        }
        return true;
    }

    private static bool Fail(string reason, out string? error)
    {
        error = reason;
        return false;
    }

    /// <summary>One line the way candump prints a frame: interface, ID, [length], bytes.</summary>
    public static string FormatCandump(string interfaceName, in CanFrame frame)
    {
        var line = new StringBuilder();
        line.Append("  ").Append(interfaceName).Append("  ");
        line.Append(frame.IsExtended ? frame.Id.ToString("X8", CultureInfo.InvariantCulture) : frame.Id.ToString("X3", CultureInfo.InvariantCulture));
        if (frame.IsFd)
        {
            line.Append("  [").Append(frame.Length.ToString("D2", CultureInfo.InvariantCulture)).Append(']');
        }
        else
        {
            line.Append("   [").Append(frame.Length.ToString(CultureInfo.InvariantCulture)).Append(']');
        }
        if (frame.IsRemote)
        {
            line.Append("  remote request");
            return line.ToString();
        }
        if (frame.Length > 0) line.Append(' ');
        foreach (byte b in frame.Data) line.Append(' ').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        return line.ToString();
    }
}
