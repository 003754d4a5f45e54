using VhostDeviceCan.Frontend;
using VhostDeviceCan.Interop;
using VhostDeviceCan.VhostUser;

namespace VhostDeviceCan.Backend.Tests;

/// <summary>Received guest memory is sealed against shrinking, or refused, on both memory requests.</summary>
public sealed class MemorySealTests
{
    private const ulong HotplugGpa = 0x2_0000_0000;
    private const ulong HotplugSize = 1 << 20;

    [Theory]
    [MemberData(nameof(Backends.Both), MemberType = typeof(Backends))]
    public void Sealable_memory_is_sealed_by_the_back_end_so_the_front_end_can_no_longer_shrink_it(BackendKind kind)
    {
        using var backend = Backends.Start(kind);
        using var frontend = VirtioFrontend.Connect(backend.SocketPath,
            new VirtioFrontendOptions { MemorySealing = GuestRamSealing.Sealable, UseAddMemReg = false });
        using var boot = Dup(frontend.Ram.Regions[0].Fd);
        Assert.Equal(0, MemFd.GetSeals(boot, out FileSeals before));
        Assert.Equal(FileSeals.None, before);

        frontend.Start();
        var added = frontend.AddMemoryRegion(HotplugGpa, HotplugSize);
        EchoTraffic.Run(frontend, 0, 100);

        // Seals belong to the file, so the back-end's seal shows through the front-end's own fd.
        Assert.Equal(0, MemFd.GetSeals(boot, out FileSeals after));
        Assert.Equal(FileSeals.Shrink, after);
        Assert.Equal(-1, Libc.ftruncate(boot.Value, 0));
        Assert.Equal(Errno.EPERM, Errno.Last);
        EchoTraffic.Run(frontend, 1, 100, seed: 1);
        // The hot-plugged region came by ADD_MEM_REG, sealed the same way.
        Assert.Equal(-1, Libc.ftruncate(added.Fd, 0));
        Assert.Equal(Errno.EPERM, Errno.Last);
    }

    [Theory]
    [MemberData(nameof(Backends.Both), MemberType = typeof(Backends))]
    public void Unsealable_memory_is_refused_by_set_mem_table_and_add_mem_reg_and_the_rings_keep_running(BackendKind kind)
    {
        using var backend = Backends.Start(kind);
        using var frontend = VirtioFrontend.Connect(backend.SocketPath);
        frontend.Start();
        EchoTraffic.Run(frontend, 0, 100);

        var unsealable = frontend.Ram.AddRegion(HotplugGpa, HotplugSize, GuestRamSealing.Unsealable);
        var refused = Assert.Throws<VhostUserException>(() => frontend.SendMemoryTable());
        Assert.Equal(VhostUserError.RequestFailed, refused.Error);
        refused = Assert.Throws<VhostUserException>(() => frontend.Client.AddMemReg(unsealable.Description, unsealable.Fd));
        Assert.Equal(VhostUserError.RequestFailed, refused.Error);
        frontend.Ram.RemoveRegion(unsealable);

        // The old map stays, the session goes on.
        EchoTraffic.Run(frontend, 0, 200, seed: 1);
        EchoTraffic.Run(frontend, 1, 200, indirect: true, seed: 2);
        if (backend is InProcessEcho echo)
        {
            Assert.Contains(echo.Log.Lines, l => l.Contains("refused SET_MEM_TABLE", StringComparison.Ordinal)
                && l.Contains("MFD_ALLOW_SEALING", StringComparison.Ordinal) && l.Contains("--allow-unsealed-memory", StringComparison.Ordinal));
            Assert.Contains(echo.Log.Lines, l => l.Contains("refused ADD_MEM_REG", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Unsealable_memory_is_accepted_with_a_warning_when_allowed()
    {
        using var backend = new InProcessEcho(allowUnsealedMemory: true);
        using var frontend = VirtioFrontend.Connect(backend.SocketPath, new VirtioFrontendOptions { MemorySealing = GuestRamSealing.Unsealable });
        frontend.Start();
        EchoTraffic.Run(frontend, 0, 200);
        EchoTraffic.Run(frontend, 1, 200, indirect: true, seed: 1);
        Assert.Contains(backend.Log.Lines, l => l.Contains("accepted unsealed", StringComparison.Ordinal));
    }

    private static FileDescriptor Dup(int fd) => FileDescriptor.Check(Libc.dup(fd), "dup");
}
