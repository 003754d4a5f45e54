using VhostDeviceCan.Can.Faults;

namespace VhostDeviceCan.Can.Tests.Faults;

public class FaultSpecTests
{
    [Theory]
    [InlineData("tx:drop=5%,seed=42", "tx: drop 5%; seed 42")]
    [InlineData("rx:drop-every=10", "rx: drop every 10")]
    [InlineData("rx:delay=2ms+-1ms", "rx: delay 2ms±1ms")]
    [InlineData("tx:duplicate=1%", "tx: duplicate 1%")]
    [InlineData("rx:flip-bit=0.5%", "rx: flip-bit 0.5%")]
    [InlineData("tx:refuse=100%", "tx: refuse 100%")]
    [InlineData("tx:refuse-every=4,drop-every=2,delay=500us", "tx: refuse every 4, drop every 2, delay 500us")]
    [InlineData("bus-off-after=100", "bus-off after 100 frames, recover on restart")]
    [InlineData("bus-off-at=2s,recover=500ms", "bus-off at 2s, recover after 500ms")]
    public void Valid_specs_read_back_as_written(string spec, string described)
    {
        FaultRules? rules = FaultSpec.Apply(FaultRules.None, spec, out string? error);
        Assert.Null(error);
        Assert.Equal(described, rules!.ToString());
    }

    [Fact]
    public void Specs_for_one_guest_add_up()
    {
        FaultRules rules = FaultTestBus.Rules("tx:drop-every=3;rx:delay=1ms;bus-off-at=1s,recover=restart;seed=5");
        Assert.Equal("tx: drop every 3; rx: delay 1ms; bus-off at 1s, recover on restart; seed 5", rules.ToString());
    }

    [Theory]
    [InlineData("drop=5%", "needs a direction")]
    [InlineData("tx:drop=5", "percentage")]
    [InlineData("tx:drop=0%", "percentage")]
    [InlineData("tx:drop=101%", "percentage")]
    [InlineData("tx:drop-every=0", "whole number")]
    [InlineData("rx:refuse=5%", "tx only")]
    [InlineData("tx:explode=1", "unknown fault 'explode'")]
    [InlineData("tx:delay=5", "not a time")]
    [InlineData("tx:delay=2ms+-3ms", "jitter may not exceed")]
    [InlineData("tx:delay=61s", "longer than 60s")]
    [InlineData("tx:drop=1%,drop-every=2", "drop is given twice")]
    [InlineData("tx:bus-off-after=3", "without tx: or rx:")]
    [InlineData("recover=restart", "goes with bus-off")]
    [InlineData("bus-off-after=3,recover=soon", "use restart or a time")]
    [InlineData("tx:", "names no fault")]
    [InlineData("tx:drop", "NAME=VALUE")]
    [InlineData("seed=x", "not a whole number")]
    public void Invalid_specs_name_the_problem(string spec, string problem)
    {
        Assert.Null(FaultSpec.Apply(FaultRules.None, spec, out string? error));
        Assert.Contains(problem, error);
    }

    [Fact]
    public void Conflicting_seeds_and_a_second_bus_off_are_refused()
    {
        FaultRules first = FaultTestBus.Rules("tx:drop=1%,seed=1;bus-off-after=3");
        Assert.Null(FaultSpec.Apply(first, "rx:drop=1%,seed=2", out string? error));
        Assert.Contains("one guest has one seed", error);
        Assert.Null(FaultSpec.Apply(first, "bus-off-at=1s", out error));
        Assert.Contains("one bus-off fault per guest", error);
    }
}
