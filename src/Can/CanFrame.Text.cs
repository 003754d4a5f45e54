namespace VhostDeviceCan.Can;

public partial struct CanFrame
{
    /// <summary>The longest <see cref="FormatCompact"/> result: 8 ID digits, "##", the flag nibble and 64 bytes in hex.</summary>
    public const int MaxCompactLength = 8 + 2 + 1 + 2 * CANFD_MAX_DLEN;

    /// <summary>
    /// The frame in the compact notation of can-utils (<c>candump</c>, <c>cansend</c>):
    /// <c>123#DEADBEEF</c>, <c>12345678#00</c> (extended IDs as 8 digits), <c>123#R</c> /
    /// <c>123#R4</c> (remote, with a DLC), <c>123##1AABB</c> (FD: the flag nibble, then data),
    /// <c>123#1122334455667788_E</c> (classic length 8 with DLC 9..15). Error frames show their
    /// <c>can_id</c> with the ERR flag, as candump does.
    /// </summary>
    /// <remarks>The FD nibble shows BRS and ESI only: FDF is implied by the <c>##</c> separator.</remarks>
    public override readonly string ToString()
    {
        Span<char> text = stackalloc char[MaxCompactLength];
        return new string(text[..FormatCompact(text)]);
    }

    /// <summary><see cref="ToString"/> into <paramref name="destination"/> (at least
    /// <see cref="MaxCompactLength"/> characters) without allocating; returns the length written.</summary>
    public readonly int FormatCompact(Span<char> destination)
    {
        int at;
        if (IsError) at = AppendHex(destination, CanId & (CAN_ERR_MASK | CAN_ERR_FLAG), 8);
        else if (IsExtended) at = AppendHex(destination, Id, 8);
        else at = AppendHex(destination, Id, 3);
        destination[at++] = '#';

        if (IsFd)
        {
            destination[at++] = '#';
            destination[at++] = Hex(Flags & (CANFD_BRS | CANFD_ESI));
            return at + AppendHex(destination[at..], Data);
        }

        if (IsRemote)
        {
            destination[at++] = 'R';
            if (Len is > 0 and <= CAN_MAX_DLEN) destination[at++] = Hex(Len);
        }
        else
        {
            at += AppendHex(destination[at..], Data);
        }
        if (Len == CAN_MAX_DLEN && Len8Dlc is > CAN_MAX_DLEN and <= 15)
        {
            destination[at++] = '_';
            destination[at++] = Hex(Len8Dlc);
        }
        return at;
    }

    private static int AppendHex(Span<char> destination, uint value, int digits)
    {
        for (int i = 0; i < digits; i++) destination[i] = Hex((int)(value >> (4 * (digits - 1 - i))));
        return digits;
    }

    private static int AppendHex(Span<char> destination, ReadOnlySpan<byte> bytes)
    {
        for (int i = 0; i < bytes.Length; i++)
        {
            destination[2 * i] = Hex(bytes[i] >> 4);
            destination[2 * i + 1] = Hex(bytes[i] & 0xF);
        }
        return 2 * bytes.Length;
    }

    private static char Hex(int nibble) => "0123456789ABCDEF"[nibble & 0xF];
}
