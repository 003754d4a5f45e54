namespace VhostDeviceCan.Can;

/// <summary>
/// How many bits a frame puts on the wire (ISO 11898-1), counted for the worst case of bit
/// stuffing, and which of them go at the data phase's rate.
/// </summary>
/// <remarks>
/// Worst case, not exact: the stuff bits a frame really needs depend on its bit pattern and, for
/// classic frames, on its CRC; the worst case is the bound that bus scheduling analysis uses,
/// and it makes a frame's time depend only on its format and length, so a guest cannot tell its
/// payload from the timing. Real traffic needs fewer stuff bits (typically a few per frame), so
/// the timed bus is up to about 20 % slower than a real one for the same frames; never faster.
/// <para>
/// Classic frame: SOF, identifier (11 bits; extended: 11 + SRR + IDE + 18), RTR, IDE or r1, r0,
/// DLC (4), data (none for a remote frame), CRC (15), then CRC delimiter, ACK slot, ACK
/// delimiter, EOF (7) and the intermission (3) that must pass before the next frame. Bits from
/// SOF to the end of the CRC are stuffed: at worst one stuff bit after the first five equal bits
/// and then after every four, floor((n - 1) / 4) for n bits.
/// </para>
/// <para>
/// CAN FD frame: SOF, identifier, RRS, IDE (extended: SRR, IDE, 18 bits, RRS), FDF, res, BRS at
/// the nominal rate; then ESI, DLC, data, the stuff count (4 bits: 3 Gray-coded and a parity
/// bit), the CRC (17 bits up to 16 data bytes, else 21) and the CRC delimiter, at the data rate
/// when BRS is set; then ACK slot, ACK delimiter, EOF and intermission at the nominal rate again.
/// Dynamic stuffing runs from SOF to the end of the data; the stuff count and CRC carry fixed
/// stuff bits instead, one before the stuff count and one after every fourth bit. Dynamic stuff
/// bits count at the rate of the phase of the bit they follow.
/// </para>
/// </remarks>
public static class CanWireTime
{
    /// <summary>Bits at the nominal rate and bits at the data rate (zero unless FD with BRS).</summary>
    public readonly record struct Bits(int Nominal, int Data)
    {
        public int Total => Nominal + Data;
    }

    /// <summary>CRC delimiter, ACK slot, ACK delimiter, EOF (7).</summary>
    private const int ClassicTrailer = 1 + 1 + 1 + 7;
    /// <summary>ACK slot, ACK delimiter, EOF (7); FD counts its CRC delimiter in the data phase.</summary>
    private const int FdTrailer = 1 + 1 + 7;
    /// <summary>Bus idle bits between two frames.</summary>
    public const int Intermission = 3;

    /// <summary>The bits of <paramref name="frame"/> with worst-case stuffing and the intermission after it.</summary>
    public static Bits Count(in CanFrame frame) => frame.IsFd ? CountFd(in frame) : CountClassic(in frame);

    private static Bits CountClassic(in CanFrame frame)
    {
        int dataBits = frame.IsRemote ? 0 : 8 * Math.Min(frame.Length, CanFrame.CAN_MAX_DLEN);
        // SOF, identifier, RTR, IDE / r1, r0, DLC, data, CRC: the stuffed part.
        int header = frame.IsExtended ? 1 + 11 + 1 + 1 + 18 + 1 + 1 + 1 + 4 : 1 + 11 + 1 + 1 + 1 + 4;
        int stuffed = header + dataBits + 15;
        return new Bits(stuffed + WorstCaseStuffBits(stuffed) + ClassicTrailer + Intermission, 0);
    }

    private static Bits CountFd(in CanFrame frame)
    {
        int length = CanFrame.RoundUpFdLength(frame.Length);
        // SOF .. BRS: the arbitration phase.
        int arbitration = frame.IsExtended ? 1 + 11 + 1 + 1 + 18 + 1 + 1 + 1 + 1 : 1 + 11 + 1 + 1 + 1 + 1 + 1;
        // ESI, DLC, data: the rest of the dynamically stuffed part.
        int control = 1 + 4 + 8 * length;
        int dynamicStuff = WorstCaseStuffBits(arbitration + control);
        int arbitrationStuff = WorstCaseStuffBits(arbitration);
        int crc = length <= 16 ? 17 : 21;
        int countAndCrc = 4 + crc;
        int fixedStuff = (countAndCrc + 3) / 4;
        int nominal = arbitration + arbitrationStuff + FdTrailer + Intermission;
        int data = control + (dynamicStuff - arbitrationStuff) + countAndCrc + fixedStuff + 1;
        return (frame.Flags & CanFrame.CANFD_BRS) != 0 ? new Bits(nominal, data) : new Bits(nominal + data, 0);
    }

    /// <summary>At worst a stuff bit after the first five bits and after every four after that.</summary>
    private static int WorstCaseStuffBits(int bits) => bits < 1 ? 0 : (bits - 1) / 4;

    /// <summary>
    /// The frame's arbitration field as the bus compares it, most significant bit first, dominant
    /// (0) winning: the base identifier, then RTR / SRR, IDE, then for an extended frame the other
    /// 18 identifier bits and RTR. So a lower identifier wins, a standard frame beats an extended
    /// one with the same base identifier (its IDE is dominant), and a data frame beats a remote
    /// frame with the same identifier. FD frames have no remote frames (RRS is dominant).
    /// </summary>
    public static uint ArbitrationKey(in CanFrame frame)
    {
        uint remote = frame.IsRemote && !frame.IsFd ? 1u : 0u;
        if (!frame.IsExtended) return (frame.Id & CanFrame.CAN_SFF_MASK) << 21 | remote << 20;
        uint id = frame.Id;
        return (id >> 18) << 21 | 1u << 20 | 1u << 19 | (id & 0x3FFFF) << 1 | remote;
    }
}
