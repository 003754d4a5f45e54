namespace VhostDeviceCan.Fuzz;

internal static class Targets
{
    public static readonly string[] Names = ["vhost-user", "tx-request", "chain-walk"];

    public static IFuzzTarget Create(string name) => name switch
    {
        "vhost-user" => new VhostUserTarget(),
        "tx-request" => new TxRequestTarget(),
        "chain-walk" => new ChainWalkTarget(),
        _ => throw new ArgumentException($"no fuzz target {name}", nameof(name)),
    };
}
