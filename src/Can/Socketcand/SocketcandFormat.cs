using System.Buffers.Text;

namespace VhostDeviceCan.Can.Socketcand;

/// <summary>What a <c>&lt; ... &gt;</c> element asks for, by its first word (docs/spec/socketcand.md §2).</summary>
public enum SocketcandCommand
{
    Unknown,
    Open,
    Send,
    Echo,
    RawMode,
    BcmMode,
    ControlMode,
    IsotpMode,
    /// <summary>add, update, delete, filter, muxfilter, subscribe, unsubscribe: broadcast-manager jobs.</summary>
    BcmJob,
}

/// <summary>Why a <c>&lt; send ... &gt;</c> was refused.</summary>
public enum SocketcandSendError
{
    None,
    /// <summary>Fewer than an ID and a length.</summary>
    Missing,
    /// <summary>The ID is not 1 to 8 hex digits or is above 0x1FFFFFFF.</summary>
    BadId,
    /// <summary>The length is not a decimal number from 0 to 8.</summary>
    BadLength,
    /// <summary>A data byte is not 1 or 2 hex digits, or the bytes do not number the length.</summary>
    BadData,
}

/// <summary>
/// socketcand's ASCII protocol (docs/spec/socketcand.md): elements between <c>&lt;</c> and
/// <c>&gt;</c>, words split by spaces. Everything works on bytes, without allocating.
/// </summary>
public static class SocketcandFormat
{
    /// <summary>socketcand's command buffer (its MAXLEN): a longer element cannot be a command (docs/spec/socketcand.md §1).</summary>
    public const int MaxElementLength = 8290;

    /// <summary>The longest <see cref="WriteFrame"/> result: the separator, "&lt; frame ", 8 ID digits,
    /// a 20-digit second count, ".", 6 digits, 16 data digits and " &gt;".</summary>
    public const int MaxFrameLength = 1 + 8 + 8 + 1 + 20 + 1 + 6 + 1 + 16 + 2;

    /// <summary>Where the next element lies in <paramref name="buffer"/> (docs/spec/socketcand.md §1).
    /// True with the range from its '&lt;' through its '&gt;' when one is complete; false with
    /// <paramref name="start"/> at the '&lt;' of an incomplete one, or -1 when the buffer holds no
    /// '&lt;' at all (all of it is garbage).</summary>
    public static bool FindElement(ReadOnlySpan<byte> buffer, out int start, out int end)
    {
        end = -1;
        start = buffer.IndexOf((byte)'<');
        if (start < 0) return false;
        int close = buffer[(start + 1)..].IndexOf((byte)'>');
        if (close < 0) return false;
        end = start + 1 + close;
        return true;
    }

    /// <summary>The next space-separated word of <paramref name="text"/> from <paramref name="at"/>.</summary>
    public static bool NextWord(ReadOnlySpan<byte> text, ref int at, out Range word)
    {
        while (at < text.Length && IsSpace(text[at])) at++;
        int first = at;
        while (at < text.Length && !IsSpace(text[at])) at++;
        word = first..at;
        return at > first;
    }

    /// <summary>The command of an element's inside (without '&lt;' and '&gt;'); <paramref name="at"/> is left after its first word.</summary>
    public static SocketcandCommand Classify(ReadOnlySpan<byte> inside, out int at)
    {
        at = 0;
        if (!NextWord(inside, ref at, out Range word)) return SocketcandCommand.Unknown;
        ReadOnlySpan<byte> name = inside[word];
        if (name.SequenceEqual("open"u8)) return SocketcandCommand.Open;
        if (name.SequenceEqual("send"u8)) return SocketcandCommand.Send;
        if (name.SequenceEqual("echo"u8)) return SocketcandCommand.Echo;
        if (name.SequenceEqual("rawmode"u8)) return SocketcandCommand.RawMode;
        if (name.SequenceEqual("bcmmode"u8)) return SocketcandCommand.BcmMode;
        if (name.SequenceEqual("controlmode"u8)) return SocketcandCommand.ControlMode;
        if (name.SequenceEqual("isotpmode"u8)) return SocketcandCommand.IsotpMode;
        if (name.SequenceEqual("add"u8) || name.SequenceEqual("update"u8) || name.SequenceEqual("delete"u8)
            || name.SequenceEqual("filter"u8) || name.SequenceEqual("muxfilter"u8)
            || name.SequenceEqual("subscribe"u8) || name.SequenceEqual("unsubscribe"u8))
            return SocketcandCommand.BcmJob;
        return SocketcandCommand.Unknown;
    }

    /// <summary>
    /// The words after <c>send</c>: <c>can_id can_dlc [data]*</c> (docs/spec/socketcand.md §3). The ID
    /// is hex; 8 digits (bit 31, the kernel's extended flag, is allowed there), or a value above
    /// 0x7FF, make it extended. The length is decimal, 0 to 8, and
    /// exactly that many data bytes follow, each 1 or 2 hex digits.
    /// </summary>
    public static SocketcandSendError ParseSend(ReadOnlySpan<byte> inside, int at, out CanFrame frame)
    {
        frame = default;
        if (!NextWord(inside, ref at, out Range idWord) || !NextWord(inside, ref at, out Range lengthWord))
            return SocketcandSendError.Missing;
        ReadOnlySpan<byte> idText = inside[idWord];
        if (idText.Length > 8 || !TryParseHex(idText, out uint id)) return SocketcandSendError.BadId;
        // socketcand hands the value to the kernel, where bit 31 is the extended-frame flag; SavvyCAN sets it.
        if (idText.Length == 8) id &= ~CanFrame.CAN_EFF_FLAG;
        if (id > CanFrame.CAN_EFF_MASK) return SocketcandSendError.BadId;
        bool extended = idText.Length == 8 || id > CanFrame.CAN_SFF_MASK;
        ReadOnlySpan<byte> lengthText = inside[lengthWord];
        if (lengthText.Length > 1 || !Utf8Parser.TryParse(lengthText, out byte length, out int used) || used != 1 || length > CanFrame.CAN_MAX_DLEN)
            return SocketcandSendError.BadLength;
        frame = CanFrame.Classic(id, extended, []);
        frame.Len = length;
        Span<byte> data = frame.DataBuffer;
        for (int i = 0; i < length; i++)
        {
            if (!NextWord(inside, ref at, out Range byteWord) || inside[byteWord].Length > 2 || !TryParseHex(inside[byteWord], out uint value))
                return Refuse(out frame);
            data[i] = (byte)value;
        }
        return NextWord(inside, ref at, out _) ? Refuse(out frame) : SocketcandSendError.None;
    }

    private static SocketcandSendError Refuse(out CanFrame frame)
    {
        frame = default;
        return SocketcandSendError.BadData;
    }

    /// <summary>
    /// A classic data frame as socketcand's raw mode reports it (docs/spec/socketcand.md §4):
    /// <c>&lt; frame 123 23.424242 1A220344 &gt;</c>, the ID as 3 or 8 upper-case digits, the
    /// timestamp in seconds and microseconds, the data as upper-case digit pairs without spaces
    /// (nothing between the two spaces when there is none). One space goes before the element
    /// (docs/spec/socketcand.md §6). Returns the bytes written, or 0 for a frame the protocol
    /// cannot carry (FD, remote, error: docs/spec/socketcand.md §5).
    /// </summary>
    public static int WriteFrame(in CanFrame frame, long unixMicroseconds, Span<byte> destination)
    {
        if (frame.IsFd || frame.IsRemote || frame.IsError || frame.Len > CanFrame.CAN_MAX_DLEN) return 0;
        int at = Append(destination, " < frame "u8, 0);
        at = AppendHex(destination, frame.Id, frame.IsExtended ? 8 : 3, at);
        destination[at++] = (byte)' ';
        long seconds = Math.DivRem(unixMicroseconds, 1_000_000, out long microseconds);
        Utf8Formatter.TryFormat(seconds, destination[at..], out int written);
        at += written;
        destination[at++] = (byte)'.';
        Utf8Formatter.TryFormat(microseconds, destination[at..], out written, new System.Buffers.StandardFormat('D', 6));
        at += written;
        destination[at++] = (byte)' ';
        foreach (byte value in frame.Data) at = AppendHex(destination, value, 2, at);
        return Append(destination, " >"u8, at);
    }

    /// <summary>Microseconds since the Unix epoch, the clock socketcand's timestamps use (SO_TIMESTAMP).</summary>
    public static long UnixMicrosecondsNow() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / 10;

    private static int Append(Span<byte> destination, ReadOnlySpan<byte> text, int at)
    {
        text.CopyTo(destination[at..]);
        return at + text.Length;
    }

    private static int AppendHex(Span<byte> destination, uint value, int digits, int at)
    {
        for (int i = digits - 1; i >= 0; i--) destination[at++] = "0123456789ABCDEF"u8[(int)(value >> (4 * i)) & 0xF];
        return at;
    }

    private static bool TryParseHex(ReadOnlySpan<byte> text, out uint value)
    {
        value = 0;
        if (text.IsEmpty) return false;
        foreach (byte c in text)
        {
            int digit = c switch
            {
                >= (byte)'0' and <= (byte)'9' => c - '0',
                >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
                >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
                _ => -1,
            };
            if (digit < 0) return false;
            value = value << 4 | (uint)digit;
        }
        return true;
    }

    private static bool IsSpace(byte c) => c is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n';
}
