namespace VhostDeviceCan.Fuzz.Tests;

/// <summary>Every committed corpus input through its target in-process, without afl-fuzz: a
/// regression on any of them fails here in milliseconds.</summary>
public sealed class CorpusReplayTests : IClassFixture<VhostUserFixture>
{
    private readonly VhostUserFixture _vhostUser;

    public CorpusReplayTests(VhostUserFixture vhostUser) => _vhostUser = vhostUser;

    public static TheoryData<string> TxRequestInputs => Corpus.Names("tx-request");
    public static TheoryData<string> ChainWalkInputs => Corpus.Names("chain-walk");
    public static TheoryData<string> VhostUserInputs => Corpus.Names("vhost-user");

    [Theory]
    [MemberData(nameof(TxRequestInputs))]
    public void Tx_request_input_runs_clean(string name) => new TxRequestTarget().Run(Corpus.Read("tx-request", name));

    [Theory]
    [MemberData(nameof(ChainWalkInputs))]
    public void Chain_walk_input_runs_clean(string name)
    {
        using var target = new ChainWalkTarget();
        target.Run(Corpus.Read("chain-walk", name));
    }

    [Theory]
    [MemberData(nameof(VhostUserInputs))]
    public void Vhost_user_input_runs_clean(string name) => _vhostUser.Target.Run(Corpus.Read("vhost-user", name));
}

/// <summary>One device event loop for all vhost-user inputs, as in a fuzzing process.</summary>
public sealed class VhostUserFixture : IDisposable
{
    internal VhostUserTarget Target { get; } = new();

    public void Dispose() => Target.Dispose();
}
