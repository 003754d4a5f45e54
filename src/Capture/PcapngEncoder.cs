using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using VhostDeviceCan.Can;

namespace VhostDeviceCan.Capture;

/// <summary>
/// pcapng (draft-ietf-opsawg-pcapng), little-endian as the Section Header's byte-order magic
/// announces: a Section Header Block, an Interface Description Block per guest with
/// LINKTYPE_CAN_SOCKETCAN and nanosecond resolution, an Enhanced Packet Block per frame with its
/// direction in <c>epb_flags</c>, and an Interface Statistics Block per guest at the end of each
/// file with the frames the writer lost.
/// </summary>
/// <remarks>
/// The packet is the SocketCAN frame as the linktype defines it: <c>can_id</c> (with the EFF,
/// RTR and ERR bits) in network byte order, then the length, the FD flags (with CANFD_FDF for an
/// FD frame), two reserved bytes (the second is <c>len8_dlc</c> of a classic frame) and the
/// payload padded to 8 or 64 bytes: the 16 and 72 bytes of CAN_MTU and CANFD_MTU, which every
/// Wireshark version tells apart, the older ones by length alone.
/// </remarks>
internal sealed class PcapngEncoder(IReadOnlyList<CapturePoint> interfaces) : CaptureEncoder(interfaces)
{
    public const ushort LinkTypeCanSocketCan = 227;

    private const uint SectionHeaderType = 0x0A0D0D0A;
    private const uint ByteOrderMagic = 0x1A2B3C4D;
    private const uint InterfaceDescriptionType = 1;
    private const uint InterfaceStatisticsType = 5;
    private const uint EnhancedPacketType = 6;

    private const ushort OptEnd = 0;
    private const ushort ShbUserApplication = 4;
    private const ushort IfName = 2;
    private const ushort IfDescription = 3;
    private const ushort IfTimestampResolution = 9;
    private const ushort EpbFlags = 2;
    private const ushort IsbStartTime = 2;
    private const ushort IsbEndTime = 3;
    private const ushort IsbInterfaceReceived = 4;
    private const ushort IsbOsDrop = 7;

    /// <summary>if_tsresol 9: time stamps count nanoseconds.</summary>
    private const byte NanosecondResolution = 9;

    /// <summary>Block type, length, interface, two time stamp halves, captured and original length.</summary>
    private const int EpbFixedLength = 7 * 4;
    /// <summary>epb_flags (4 + 4), opt_endofopt (4), the trailing length (4).</summary>
    private const int EpbTailLength = 8 + 4 + 4;

    public override int MaxRecordLength => EpbFixedLength + CanFrame.Size + EpbTailLength;

    /// <summary>Per interface an ISB: 20 fixed bytes, four 8-byte options with their 4-byte
    /// headers, opt_endofopt, and the trailing length.</summary>
    public override int TrailerLength => Interfaces.Count * (20 + 4 * 12 + 4 + 4);

    public override void WriteHeader(IBufferWriter<byte> output)
    {
        var block = new BlockBuilder(output, SectionHeaderType);
        block.UInt32(ByteOrderMagic);
        block.UInt16(1);
        block.UInt16(0);
        // Section length unknown: -1, as a writer that streams must say.
        block.UInt64(ulong.MaxValue);
        block.TextOption(ShbUserApplication, "vhost-device-can");
        block.End();

        foreach (CapturePoint point in Interfaces)
        {
            block = new BlockBuilder(output, InterfaceDescriptionType);
            block.UInt16(LinkTypeCanSocketCan);
            block.UInt16(0);
            block.UInt32(CanFrame.Size);
            block.TextOption(IfName, point.Name);
            block.TextOption(IfDescription, point.Description);
            block.Option(IfTimestampResolution, [NanosecondResolution]);
            block.End();
        }
    }

    public override int Encode(Span<byte> destination, in CaptureRecord record, int interfaceIndex, long epochNanoseconds)
    {
        ReadOnlySpan<byte> wire = record.Frame.WireBytes;
        int total = EpbFixedLength + wire.Length + EpbTailLength;
        BinaryPrimitives.WriteUInt32LittleEndian(destination, EnhancedPacketType);
        BinaryPrimitives.WriteInt32LittleEndian(destination[4..], total);
        BinaryPrimitives.WriteInt32LittleEndian(destination[8..], interfaceIndex);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], (uint)((ulong)epochNanoseconds >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(destination[16..], (uint)epochNanoseconds);
        BinaryPrimitives.WriteInt32LittleEndian(destination[20..], wire.Length);
        BinaryPrimitives.WriteInt32LittleEndian(destination[24..], wire.Length);
        Span<byte> packet = destination.Slice(EpbFixedLength, wire.Length);
        wire.CopyTo(packet);
        BinaryPrimitives.WriteUInt32BigEndian(packet, record.Frame.CanId);
        // Bytes 5-7 of a classic frame are padding except len8_dlc; whatever a transport left there is not ours to show.
        if (!record.Frame.IsFd) packet[5] = packet[6] = 0;
        Span<byte> tail = destination[(EpbFixedLength + wire.Length)..];
        BinaryPrimitives.WriteUInt16LittleEndian(tail, EpbFlags);
        BinaryPrimitives.WriteUInt16LittleEndian(tail[2..], 4);
        // epb_flags bits 0-1: 1 inbound, 2 outbound; the enum has those values.
        BinaryPrimitives.WriteUInt32LittleEndian(tail[4..], (uint)record.Direction);
        BinaryPrimitives.WriteUInt32LittleEndian(tail[8..], OptEnd);
        BinaryPrimitives.WriteInt32LittleEndian(tail[12..], total);
        return total;
    }

    public override void WriteTrailer(IBufferWriter<byte> output, ReadOnlySpan<long> recorded, ReadOnlySpan<long> dropped,
        long startNanoseconds, long endNanoseconds)
    {
        for (int i = 0; i < recorded.Length; i++)
        {
            var block = new BlockBuilder(output, InterfaceStatisticsType);
            block.UInt32((uint)i);
            block.UInt32((uint)((ulong)endNanoseconds >> 32));
            block.UInt32((uint)endNanoseconds);
            block.TimestampOption(IsbStartTime, startNanoseconds);
            block.TimestampOption(IsbEndTime, endNanoseconds);
            block.UInt64Option(IsbInterfaceReceived, (ulong)(recorded[i] + dropped[i]));
            block.UInt64Option(IsbOsDrop, (ulong)dropped[i]);
            block.End();
        }
    }

    /// <summary>A block assembled in a scratch buffer, then written whole with its length at both ends.
    /// Used for the few header and statistics blocks only; records go through <see cref="Encode"/>.</summary>
    private struct BlockBuilder(IBufferWriter<byte> output, uint type)
    {
        private readonly List<byte> _body = [];

        public readonly void UInt16(ushort value) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, value); _body.AddRange(b); }
        public readonly void UInt32(uint value) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, value); _body.AddRange(b); }
        public readonly void UInt64(ulong value) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, value); _body.AddRange(b); }

        public readonly void Option(ushort code, ReadOnlySpan<byte> value)
        {
            UInt16(code);
            UInt16((ushort)value.Length);
            _body.AddRange(value);
            // Options are padded to 32 bits.
            for (int i = value.Length; i % 4 != 0; i++) _body.Add(0);
        }

        public readonly void TextOption(ushort code, string text) => Option(code, Encoding.UTF8.GetBytes(text));

        public readonly void UInt64Option(ushort code, ulong value)
        {
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(b, value);
            Option(code, b);
        }

        /// <summary>A time stamp option: high 32 bits first, then low, each in the section's byte order.</summary>
        public readonly void TimestampOption(ushort code, long nanoseconds)
        {
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)((ulong)nanoseconds >> 32));
            BinaryPrimitives.WriteUInt32LittleEndian(b[4..], (uint)nanoseconds);
            Option(code, b);
        }

        public readonly void End()
        {
            UInt16(OptEnd);
            UInt16(0);
            int total = 4 + 4 + _body.Count + 4;
            Span<byte> span = output.GetSpan(total);
            BinaryPrimitives.WriteUInt32LittleEndian(span, type);
            BinaryPrimitives.WriteInt32LittleEndian(span[4..], total);
            System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_body).CopyTo(span[8..]);
            BinaryPrimitives.WriteInt32LittleEndian(span[(8 + _body.Count)..], total);
            output.Advance(total);
        }
    }
}
