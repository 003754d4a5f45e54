using System.Buffers.Binary;

namespace VhostDeviceCan.Can.Cannelloni;

/// <summary>
/// The cannelloni 2.x datagram format (docs/spec/cannelloni.md): a five-byte header (version 2,
/// op code DATA, sequence number, big-endian frame count) followed by the frames, each a
/// big-endian <c>can_id</c> with SocketCAN's flag bits, a length byte whose top bit marks CAN FD,
/// an FD flags byte for FD frames only, and the payload (none for a remote frame).
/// </summary>
public static class CannelloniFormat
{
    public const byte Version = 2;
    public const byte OpData = 0;
    public const int HeaderSize = 5;
    /// <summary><c>can_id</c> and the length byte: the least a frame takes.</summary>
    public const int FrameBaseSize = 5;
    /// <summary>The top bit of the length byte: this frame is CAN FD and has a flags byte.</summary>
    public const byte FdMarker = 0x80;
    /// <summary>Largest encoded frame: an FD frame with 64 bytes.</summary>
    public const int MaxFrameSize = FrameBaseSize + 1 + CanFrame.CANFD_MAX_DLEN;
    /// <summary>An Ethernet MTU of 1500 less the IPv4 and UDP headers: what cannelloni fills by default.</summary>
    public const int DefaultPayloadSize = 1472;
    /// <summary>The most a UDP datagram can carry over IPv4.</summary>
    public const int MaxDatagramSize = 65_507;

    /// <summary>What each side of a TCP connection sends first, no terminator (docs/spec/cannelloni.md §5).</summary>
    public static ReadOnlySpan<byte> TcpHandshake => "CANNELLONIv1"u8;

    /// <summary>Bytes <paramref name="frame"/> takes in a datagram.</summary>
    public static int EncodedSize(in CanFrame frame) =>
        FrameBaseSize + (frame.IsFd ? 1 : 0) + (frame.IsRemote ? 0 : frame.Length);

    /// <summary>Writes the header of a datagram carrying <paramref name="count"/> frames.</summary>
    public static void WriteHeader(Span<byte> datagram, byte sequence, ushort count)
    {
        datagram[0] = Version;
        datagram[1] = OpData;
        datagram[2] = sequence;
        BinaryPrimitives.WriteUInt16BigEndian(datagram[3..], count);
    }

    /// <summary>Writes one frame at the start of <paramref name="destination"/> (at least
    /// <see cref="EncodedSize"/> bytes); returns the bytes written.</summary>
    public static int WriteFrame(in CanFrame frame, Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, frame.CanId);
        int length = frame.Length;
        int at = 4;
        if (frame.IsFd)
        {
            destination[at++] = (byte)(length | FdMarker);
            destination[at++] = (byte)(frame.Flags & (CanFrame.CANFD_BRS | CanFrame.CANFD_ESI));
        }
        else
        {
            destination[at++] = (byte)length;
        }
        if (frame.IsRemote) return at;
        frame.Data.CopyTo(destination[at..]);
        return at + length;
    }

    /// <summary>Checks a datagram's header (docs/spec/cannelloni.md §1): its sequence number and frame count, or why it is refused.</summary>
    public static CannelloniError ReadHeader(ReadOnlySpan<byte> datagram, out byte sequence, out int count)
    {
        sequence = 0;
        count = 0;
        if (datagram.Length < HeaderSize) return CannelloniError.ShortHeader;
        if (datagram[0] != Version) return CannelloniError.WrongVersion;
        if (datagram[1] != OpData) return CannelloniError.WrongOpCode;
        sequence = datagram[2];
        count = BinaryPrimitives.ReadUInt16BigEndian(datagram[3..]);
        return CannelloniError.None;
    }

    /// <summary>
    /// Reads the frame at <paramref name="offset"/> and moves the offset past it (docs/spec/cannelloni.md §2).
    /// On an error the offset is left where it was: the frame and whatever follows it cannot be told
    /// apart any more, so the caller drops the rest of the datagram (docs/spec/cannelloni.md §3).
    /// </summary>
    public static CannelloniError ReadFrame(ReadOnlySpan<byte> datagram, ref int offset, out CanFrame frame)
    {
        frame = default;
        ReadOnlySpan<byte> rest = datagram[offset..];
        if (rest.Length < FrameBaseSize) return CannelloniError.Truncated;
        uint canId = BinaryPrimitives.ReadUInt32BigEndian(rest);
        byte lengthByte = rest[4];
        bool fd = (lengthByte & FdMarker) != 0;
        int length = lengthByte & ~FdMarker;
        bool remote = (canId & CanFrame.CAN_RTR_FLAG) != 0;
        int at = FrameBaseSize;
        byte flags = 0;
        if (fd)
        {
            // CAN FD has no remote frames, and only the DLC steps are lengths.
            if (remote || length != CanFrame.RoundUpFdLength(length) || length > CanFrame.CANFD_MAX_DLEN)
                return CannelloniError.BadLength;
            if (rest.Length < at + 1) return CannelloniError.Truncated;
            flags = (byte)(CanFrame.CANFD_FDF | (rest[at++] & (CanFrame.CANFD_BRS | CanFrame.CANFD_ESI)));
        }
        else if (length > CanFrame.CAN_MAX_DLEN)
        {
            return CannelloniError.BadLength;
        }
        int payload = remote ? 0 : length;
        if (rest.Length < at + payload) return CannelloniError.Truncated;
        frame.CanId = canId;
        frame.Len = (byte)length;
        frame.Flags = flags;
        rest.Slice(at, payload).CopyTo(frame.DataBuffer);
        offset += at + payload;
        return CannelloniError.None;
    }
}

/// <summary>Why a datagram, or the rest of it, was dropped; <see cref="None"/> when it was not.</summary>
public enum CannelloniError
{
    None = 0,
    /// <summary>Shorter than the five-byte header.</summary>
    ShortHeader,
    /// <summary>A version other than 2.</summary>
    WrongVersion,
    /// <summary>An op code other than DATA (0).</summary>
    WrongOpCode,
    /// <summary>The frame count promises more frames, or a frame more bytes, than the datagram holds.</summary>
    Truncated,
    /// <summary>A classic length above 8, an FD length that is not an FD size, or an FD remote frame.</summary>
    BadLength,
    /// <summary>A TCP stream that did not open with <see cref="CannelloniFormat.TcpHandshake"/>.</summary>
    WrongHandshake,
}
