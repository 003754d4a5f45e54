namespace VhostDeviceCan.Backend.Tests;

internal static class Backends
{
    public static IEchoBackend Start(BackendKind kind, int queues = 2) => kind switch
    {
        BackendKind.InProcess => new InProcessEcho(queues),
        _ => new EchoHostProcess(queues),
    };

    public static TheoryData<BackendKind> Both => new() { BackendKind.InProcess, BackendKind.Process };
}
