using System.Text;

namespace VhostDeviceCan.Can;

public partial struct CanFrame
{
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
        var text = new StringBuilder(12 + 2 * CANFD_MAX_DLEN);
        if (IsError) text.Append((CanId & (CAN_ERR_MASK | CAN_ERR_FLAG)).ToString("X8"));
        else if (IsExtended) text.Append(Id.ToString("X8"));
        else text.Append(Id.ToString("X3"));
        text.Append('#');

        if (IsFd)
        {
            text.Append('#').Append(Hex(Flags & (CANFD_BRS | CANFD_ESI)));
            AppendHex(text, Data);
            return text.ToString();
        }

        if (IsRemote)
        {
            text.Append('R');
            if (Len is > 0 and <= CAN_MAX_DLEN) text.Append(Hex(Len));
        }
        else
        {
            AppendHex(text, Data);
        }
        if (Len == CAN_MAX_DLEN && Len8Dlc is > CAN_MAX_DLEN and <= 15) text.Append('_').Append(Hex(Len8Dlc));
        return text.ToString();
    }

    private static void AppendHex(StringBuilder text, ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes) text.Append(Hex(b >> 4)).Append(Hex(b & 0xF));
    }

    private static char Hex(int nibble) => "0123456789ABCDEF"[nibble & 0xF];
}
