using VhostDeviceCan.Can;

namespace VhostDeviceCan.Can.Tests;

public sealed class CanIdFilterTests
{
    private static CanFrame Standard(uint id) => CanFrame.Classic(id, false, [1]);
    private static CanFrame Extended(uint id) => CanFrame.Classic(id, true, [1]);

    private static CanIdFilter Filter(string text)
    {
        CanIdFilter? filter = CanIdFilter.Parse(text, out string? error);
        Assert.True(filter is not null, error);
        Assert.Null(error);
        return filter;
    }

    [Theory]
    [InlineData("123", 0x123, true)]
    [InlineData("123", 0x124, false)]
    [InlineData("100:700", 0x100, true)]
    [InlineData("100:700", 0x1FF, true)]
    [InlineData("100:700", 0x200, false)]
    [InlineData("100~700", 0x200, true)]
    [InlineData("100~700", 0x1AB, false)]
    [InlineData("100-1FF", 0x100, true)]
    [InlineData("100-1FF", 0x1FF, true)]
    [InlineData("100-1FF", 0x0FF, false)]
    [InlineData("100-1FF", 0x200, false)]
    [InlineData("7DF,100-10F", 0x7DF, true)]
    [InlineData("7DF,100-10F", 0x105, true)]
    [InlineData("7DF,100-10F", 0x110, false)]
    [InlineData("0:0", 0x7FF, true)]
    public void Standard_rules_match_standard_identifiers(string text, uint id, bool allowed) =>
        Assert.Equal(allowed, Filter(text).Allows(Standard(id)));

    [Theory]
    [InlineData("18DAF110", 0x18DAF110, true)]
    [InlineData("18DAF100:1FFFFF00", 0x18DAF1FE, true)]
    [InlineData("18DAF100:1FFFFF00", 0x18DAF200, false)]
    [InlineData("10000000-1000FFFF", 0x1000ABCD, true)]
    [InlineData("10000000-1000FFFF", 0x10010000, false)]
    public void Extended_rules_match_extended_identifiers(string text, uint id, bool allowed) =>
        Assert.Equal(allowed, Filter(text).Allows(Extended(id)));

    [Theory]
    [InlineData("123", 0x123)]
    [InlineData("0:0", 0x123)]
    [InlineData("000-7FF", 0x7FF)]
    public void A_standard_rule_never_matches_an_extended_frame(string text, uint id) =>
        Assert.False(Filter(text).Allows(Extended(id)));

    [Fact]
    public void An_extended_rule_never_matches_a_standard_frame() =>
        Assert.False(Filter("00000123,00000000:00000000").Allows(Standard(0x123)));

    [Fact]
    public void Remote_and_FD_frames_are_judged_by_their_identifier()
    {
        CanIdFilter filter = Filter("123");
        Assert.True(filter.Allows(CanFrame.Remote(0x123, false, 0)));
        Assert.True(filter.Allows(CanFrame.Fd(0x123, false, new byte[12])));
        Assert.False(filter.Allows(CanFrame.Fd(0x321, false, new byte[12])));
    }

    [Theory]
    [InlineData("", "'' is not a hex")]
    [InlineData("12G", "'12G'")]
    [InlineData("800", "above 7FF")]
    [InlineData("12345", "8 hex digits")]
    [InlineData("20000000", "above 1FFFFFFF")]
    [InlineData("123456789", "not a hex CAN identifier")]
    [InlineData("100:FFF", "outside the 11-bit")]
    [InlineData("100:", "mask")]
    [InlineData("100:xyz", "mask")]
    [InlineData("200-100", "below its low end")]
    [InlineData("100-10000000", "mixes")]
    [InlineData("100,,200", "''")]
    [InlineData("-100", "'-100' is not a hex")]
    public void Bad_rules_are_named_in_one_line(string text, string named)
    {
        Assert.Null(CanIdFilter.Parse(text, out string? error));
        Assert.NotNull(error);
        Assert.Contains(named, error);
        Assert.DoesNotContain('\n', error);
    }

    [Fact]
    public void ToString_gives_the_rules_back() => Assert.Equal("7DF,100-1FF", Filter(" 7DF , 100-1FF ").ToString());
}
