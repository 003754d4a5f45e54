using VhostDeviceCan.Frontend;

namespace VhostDeviceCan.Backend.Tests;

/// <summary>GET_VRING_BASE reports the next avail index the device will read (docs/spec/vhost-user.md §6).</summary>
public sealed class VringBaseTests
{
    [Theory]
    [InlineData(BackendKind.InProcess, (ushort)0, 1000)]
    [InlineData(BackendKind.InProcess, (ushort)0xFFF0, 100)]
    [InlineData(BackendKind.Process, (ushort)0xFFF0, 1000)]
    [InlineData(BackendKind.Process, (ushort)0xFFFF, 1)]
    public void Get_vring_base_returns_the_next_avail_index_after_traffic(BackendKind kind, ushort start, int chains)
    {
        using var backend = Backends.Start(kind);
        using var frontend = VirtioFrontend.Connect(backend.SocketPath);
        frontend.Start(ringBase: start);
        EchoTraffic.Run(frontend, 0, chains);
        EchoTraffic.Run(frontend, 1, chains / 2 + 1, indirect: true);
        uint[] bases = frontend.Stop();
        Assert.Equal((uint)(ushort)(start + chains), bases[0]);
        Assert.Equal((uint)(ushort)(start + chains / 2 + 1), bases[1]);

        // Resuming from the reported bases continues across the wrap.
        frontend.Start(ringBase: (ushort)bases[0]);
        EchoTraffic.Run(frontend, 0, 50, seed: 9);
        Assert.Equal((uint)(ushort)(bases[0] + 50), frontend.Stop()[0]);
    }
}
