using VhostDeviceCan.Frontend;
using VhostDeviceCan.VhostUser;

namespace VhostDeviceCan.Backend.Tests;

/// <summary>Memory-map changes while rings run (docs/spec/vhost-user.md §8: hotplug).</summary>
public sealed class MemoryUpdateTests
{
    private const ulong HotplugGpa = 0x2_0000_0000;
    private const ulong HotplugSize = 1 << 20;

    [Theory]
    [MemberData(nameof(Backends.Both), MemberType = typeof(Backends))]
    public void Set_mem_table_with_the_same_ram_plus_a_new_region_keeps_rings_running(BackendKind kind)
    {
        using var backend = Backends.Start(kind);
        using var frontend = VirtioFrontend.Connect(backend.SocketPath, new VirtioFrontendOptions { SplitMemory = true });
        frontend.Start();
        EchoTraffic.Run(frontend, 0, 300);

        // The whole table again: the back-end maps every region anew from the fds and drops the old maps.
        var added = frontend.Ram.AddRegion(HotplugGpa, HotplugSize);
        frontend.SendMemoryTable();

        EchoTraffic.Run(frontend, 0, 300, seed: 1);
        EchoTraffic.Run(frontend, 1, 300, indirect: true, seed: 2);
        // Readable bytes from the new region prove the back-end mapped it.
        EchoTraffic.Run(frontend, 0, 20, dataGpa: added.GuestPhysAddr + 0x1000, seed: 3);
        EchoTraffic.Run(frontend, 1, 20, indirect: true, dataGpa: added.GuestPhysAddr + 0x2000, seed: 4);

        // And a table without it again.
        frontend.Ram.RemoveRegion(added);
        frontend.SendMemoryTable();
        EchoTraffic.Run(frontend, 0, 300, seed: 5);
    }

    [Theory]
    [MemberData(nameof(Backends.Both), MemberType = typeof(Backends))]
    public void Add_and_remove_mem_reg_while_running(BackendKind kind)
    {
        using var backend = Backends.Start(kind);
        using var frontend = VirtioFrontend.Connect(backend.SocketPath);
        Assert.True(frontend.Has(ProtocolFeatures.CONFIGURE_MEM_SLOTS));
        frontend.Start();
        EchoTraffic.Run(frontend, 0, 200);

        var added = frontend.AddMemoryRegion(HotplugGpa, HotplugSize);
        EchoTraffic.Run(frontend, 0, 20, dataGpa: added.GuestPhysAddr + 0x3000, seed: 1);
        EchoTraffic.Run(frontend, 1, 200, indirect: true, seed: 2);

        frontend.RemoveMemoryRegion(added);
        EchoTraffic.Run(frontend, 0, 200, seed: 3);
        EchoTraffic.Run(frontend, 1, 200, indirect: true, seed: 4);
    }

    [Theory]
    [MemberData(nameof(Backends.Both), MemberType = typeof(Backends))]
    public void Removing_the_region_that_holds_a_running_ring_is_refused(BackendKind kind)
    {
        using var backend = Backends.Start(kind);
        using var frontend = VirtioFrontend.Connect(backend.SocketPath);
        frontend.Start();
        EchoTraffic.Run(frontend, 0, 100);

        var ringRegion = frontend.Ram.Regions[0];
        var refused = Assert.Throws<VhostUserException>(() => frontend.Client.RemMemReg(ringRegion.Description));
        Assert.Equal(VhostUserError.RequestFailed, refused.Error);

        EchoTraffic.Run(frontend, 0, 300, seed: 1);
        EchoTraffic.Run(frontend, 1, 300, indirect: true, seed: 2);
        Assert.Equal(new uint[] { 400, 300 }, frontend.Stop());
    }
}
