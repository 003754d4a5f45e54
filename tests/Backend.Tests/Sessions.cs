using VhostDeviceCan.Frontend;
using VhostDeviceCan.VhostUser;

namespace VhostDeviceCan.Backend.Tests;

internal static class Sessions
{
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    public static ulong Features(bool eventIdx = true, bool indirect = true) =>
        VirtioFeatures.Bit(VirtioFeatures.VIRTIO_F_VERSION_1)
        | (eventIdx ? VirtioFeatures.Bit(VirtioFeatures.VIRTIO_RING_F_EVENT_IDX) : 0)
        | (indirect ? VirtioFeatures.Bit(VirtioFeatures.VIRTIO_RING_F_INDIRECT_DESC) : 0);

    /// <summary>Connects, starts and moves a few chains on every queue: proof that the back-end serves a fresh session.</summary>
    public static void ProveWorking(string socketPath, VirtioFrontendOptions? options = null, Func<string>? diagnostics = null)
    {
        using var frontend = VirtioFrontend.Connect(socketPath, options);
        frontend.Start();
        for (int q = 0; q < frontend.Queues.Count; q++)
            EchoTraffic.Run(frontend, q, 40, indirect: q == 1, diagnostics: diagnostics);
        frontend.Stop();
    }

    /// <summary>
    /// Open fds of the back-end once it has finished with every earlier connection: it serves one
    /// front-end at a time, so answering a new one's GET_FEATURES proves the previous one was torn down.
    /// </summary>
    public static int SettledFdCount(IEchoBackend backend)
    {
        using var probe = new VhostUserFrontend(Interop.UnixSocket.Connect(backend.SocketPath)) { ReplyTimeout = Wait };
        probe.GetFeatures();
        return backend.CountFds();
    }
}
