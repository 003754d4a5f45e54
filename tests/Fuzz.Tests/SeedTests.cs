namespace VhostDeviceCan.Fuzz.Tests;

/// <summary>The seeds are what <see cref="Seeds"/> builds, and they reach the code they are for:
/// a seed that a target refuses at its first check would leave afl-fuzz to find everything alone.</summary>
public sealed class SeedTests : IClassFixture<VhostUserFixture>
{
    private readonly VhostUserFixture _vhostUser;

    public SeedTests(VhostUserFixture vhostUser) => _vhostUser = vhostUser;

    [Theory]
    [InlineData("tx-request")]
    [InlineData("chain-walk")]
    [InlineData("vhost-user")]
    public void Committed_seeds_match_the_seed_builder(string target)
    {
        string built = Path.Combine(Path.GetTempPath(), $"fuzz-seeds-{Guid.NewGuid():N}");
        try
        {
            int count = Seeds.Write(target, built);
            Assert.True(count > 0);
            foreach (string file in Directory.GetFiles(built))
            {
                string committed = Path.Combine(Corpus.Directory(target), Path.GetFileName(file));
                Assert.True(File.Exists(committed), $"seed {Path.GetFileName(file)} is not committed (run: vhost-device-can-fuzz seeds {target} tests/Fuzz/corpus/{target})");
                Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(committed));
            }
        }
        finally
        {
            Directory.Delete(built, recursive: true);
        }
    }

    [Theory]
    [InlineData("01-tx-request-and-status", 1)]
    [InlineData("03-gather-scatter", 1)]
    [InlineData("04-indirect", 1)]
    [InlineData("05-direct-then-indirect", 1)]
    [InlineData("09-three-chains-event-idx", 3)]
    [InlineData("10-index-wrap", 2)]
    [InlineData("13-two-regions-seam", 1)]
    public void Chain_walk_seeds_pop_their_chains(string seed, int chains)
    {
        using var target = new ChainWalkTarget();
        target.Run(Corpus.Read("chain-walk", seed));
        Assert.Null(target.LastBrokenReason);
        Assert.Equal(chains, target.LastChainCount);
    }

    [Theory]
    [InlineData("06-loop", "Looped")]
    [InlineData("07-readable-after-writable", "Incorrect order")]
    [InlineData("11-avail-idx-too-far", "entries ahead")]
    [InlineData("12-buffer-past-region", "outside guest memory")]
    [InlineData("14-indirect-table-past-region", "outside guest memory")]
    public void Hostile_chain_walk_seeds_break_the_queue(string seed, string reason)
    {
        using var target = new ChainWalkTarget();
        target.Run(Corpus.Read("chain-walk", seed));
        Assert.Contains(reason, target.LastBrokenReason, StringComparison.Ordinal);
    }

    [Fact]
    public void Full_vhost_user_session_sends_a_frame_and_receives_one()
    {
        var counters = _vhostUser.Target.Counters;
        long tx = counters.TxFrames, rx = counters.RxFrames;
        _vhostUser.Target.Run(Corpus.Read("vhost-user", "01-full-session"));
        Assert.Equal(1, _vhostUser.Target.LastFramesOnBus);
        Assert.Equal(tx + 1, counters.TxFrames);
        Assert.Equal(rx + 1, counters.RxFrames);
    }
}
