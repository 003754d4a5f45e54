namespace VhostDeviceCan.Can.Tests;

/// <summary>Bit counts with worst-case stuffing, worked out by hand from the ISO 11898-1 frame
/// layouts (see <see cref="CanWireTime"/>), intermission included.</summary>
public class CanWireTimeTests
{
    private static readonly byte[] Eight = [1, 2, 3, 4, 5, 6, 7, 8];

    public static TheoryData<string, CanFrame, int, int> Frames => new()
    {
        // Standard, 8 bytes: SOF..CRC = 1+11+1+1+1+4+64+15 = 98, stuff (98-1)/4 = 24,
        // then CRC delimiter, ACK, ACK delimiter, EOF 7 = 10, intermission 3: 135.
        { "classic standard DLC 8", CanFrame.Classic(0x123, false, Eight), 135, 0 },
        // 34 stuffed bits, 8 stuff bits, 13: 55.
        { "classic standard DLC 0", CanFrame.Classic(0x123, false, []), 55, 0 },
        // Extended, 8 bytes: 1+11+1+1+18+1+1+1+4+64+15 = 118, stuff 29, 13: 160.
        { "classic extended DLC 8", CanFrame.Classic(0x1234567, true, Eight), 160, 0 },
        // 54 stuffed bits, 13 stuff bits, 13: 80.
        { "classic extended DLC 0", CanFrame.Classic(0x1234567, true, []), 80, 0 },
        // A remote frame carries no data whatever its DLC.
        { "remote standard DLC 8", CanFrame.Remote(0x123, false, 8), 55, 0 },
        { "remote extended DLC 4", CanFrame.Remote(0x1234567, true, 4), 80, 0 },
        // FD standard, 64 bytes, no BRS: arbitration SOF..BRS 17, ESI+DLC+data 517, dynamic stuff
        // (534-1)/4 = 133, stuff count 4 + CRC21 + 7 fixed stuff bits = 32, CRC delimiter 1,
        // ACK, ACK delimiter, EOF 9, intermission 3: 712, all at the nominal rate.
        { "FD standard 64 bytes", CanFrame.Fd(0x123, false, new byte[64]), 712, 0 },
        // With BRS the data phase (ESI..CRC delimiter, with the stuff bits after bit 17) switches:
        // nominal 17 + 4 stuff + 12 = 33, data 517 + 129 + 32 + 1 = 679.
        { "FD standard 64 bytes BRS", CanFrame.Fd(0x123, false, new byte[64], CanFrame.CANFD_BRS), 33, 679 },
        // Extended: arbitration 36 (+8 stuff), data 517 + (553-1)/4 - 8 = 130 stuff, CRC part 33: 56 / 680.
        { "FD extended 64 bytes BRS", CanFrame.Fd(0x1234567, true, new byte[64], CanFrame.CANFD_BRS), 56, 680 },
        // 8 bytes: CRC17 with 6 fixed stuff bits; data 69 + (86-1)/4 - 4 = 17 stuff + 21 + 6 + 1 = 114.
        { "FD standard 8 bytes BRS", CanFrame.Fd(0x123, false, Eight, CanFrame.CANFD_BRS), 33, 114 },
        // 0 bytes: data 5 + 1 stuff + 21 + 6 + 1 = 34, no BRS so all nominal: 67.
        { "FD standard 0 bytes", CanFrame.Fd(0x123, false, []), 67, 0 },
    };

    [Theory]
    [MemberData(nameof(Frames))]
    public void Bit_counts_match_the_hand_computed_ones(string what, CanFrame frame, int nominal, int data)
    {
        Assert.Equal(new CanWireTime.Bits(nominal, data), CanWireTime.Count(in frame));
        Assert.NotEmpty(what);
    }

    [Fact]
    public void Wire_time_uses_the_data_rate_only_for_the_data_phase_of_a_BRS_frame()
    {
        var timing = new BusTiming(500_000, 2_000_000);
        Assert.Equal(TimeSpan.FromMicroseconds(270), timing.WireTime(CanFrame.Classic(0x123, false, Eight)));
        // 33 bits at 2 µs + 679 bits at 0.5 µs.
        Assert.Equal(TimeSpan.FromMicroseconds(405.5), timing.WireTime(CanFrame.Fd(0x123, false, new byte[64], CanFrame.CANFD_BRS)));
        // Without BRS the whole FD frame goes at the nominal rate.
        Assert.Equal(TimeSpan.FromMicroseconds(1424), timing.WireTime(CanFrame.Fd(0x123, false, new byte[64])));
        // A bus without a data rate runs BRS frames at the nominal rate too.
        Assert.Equal(TimeSpan.FromMicroseconds(1424), new BusTiming(500_000).WireTime(CanFrame.Fd(0x123, false, new byte[64], CanFrame.CANFD_BRS)));
        Assert.Equal(TimeSpan.FromMicroseconds(135), new BusTiming(1_000_000).WireTime(CanFrame.Classic(0x7FF, false, Eight)));
    }

    [Fact]
    public void Timing_outside_the_bounds_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new BusTiming(999));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BusTiming(1_000_001));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BusTiming(500_000, 250_000));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BusTiming(500_000, 15_000_001));
        Assert.Equal("bitrate=500000,dbitrate=2000000", new BusTiming(500_000, 2_000_000).ToString());
        Assert.Equal("bitrate=125000", new BusTiming(125_000).ToString());
    }

    [Fact]
    public void Arbitration_compares_as_the_bus_does()
    {
        static uint Key(CanFrame frame) => CanWireTime.ArbitrationKey(in frame);
        // Lower identifier wins.
        Assert.True(Key(CanFrame.Classic(0x100, false, [])) < Key(CanFrame.Classic(0x101, false, [])));
        // Standard beats extended with the same base identifier (IDE dominant), even as a remote frame.
        Assert.True(Key(CanFrame.Classic(0x100, false, [])) < Key(CanFrame.Classic(0x100 << 18, true, [])));
        Assert.True(Key(CanFrame.Remote(0x100, false, 0)) < Key(CanFrame.Classic(0x100 << 18, true, [])));
        // But an extended frame with a lower base identifier beats a standard one.
        Assert.True(Key(CanFrame.Classic(0x0FF << 18 | 0x3FFFF, true, [])) < Key(CanFrame.Classic(0x100, false, [])));
        // Data beats remote with the same identifier, standard and extended.
        Assert.True(Key(CanFrame.Classic(0x100, false, [])) < Key(CanFrame.Remote(0x100, false, 0)));
        Assert.True(Key(CanFrame.Classic(0x1234567, true, [])) < Key(CanFrame.Remote(0x1234567, true, 0)));
        // The low 18 bits of an extended identifier decide between equal base identifiers.
        Assert.True(Key(CanFrame.Classic(0x1234560, true, [])) < Key(CanFrame.Classic(0x1234567, true, [])));
        // FD and classic frames with one identifier collide (the bus sees equal arbitration fields).
        Assert.Equal(Key(CanFrame.Classic(0x100, false, [])), Key(CanFrame.Fd(0x100, false, [])));
    }
}
