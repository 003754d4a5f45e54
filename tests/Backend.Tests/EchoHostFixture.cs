namespace VhostDeviceCan.Backend.Tests;

/// <summary>One echo-device-host process shared by a test class; it must exit 0 on SIGTERM at the end.</summary>
public sealed class EchoHostFixture : IDisposable
{
    public EchoHostProcess Host { get; } = new();

    public void Dispose()
    {
        int exitCode = Host.Terminate();
        bool socketLeft = File.Exists(Host.SocketPath);
        Host.Dispose();
        if (exitCode != 0 || socketLeft)
            throw new InvalidOperationException($"echo-device-host exited with {exitCode}, socket left behind: {socketLeft}");
    }
}
