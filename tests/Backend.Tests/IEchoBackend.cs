namespace VhostDeviceCan.Backend.Tests;

/// <summary>An echo device served over a Unix socket, in this process or in its own.</summary>
public interface IEchoBackend : IDisposable
{
    string SocketPath { get; }

    /// <summary>Open fds of the process serving the socket.</summary>
    int CountFds();
}
