using VhostDeviceCan.EchoDeviceHost;
using VhostDeviceCan.Frontend;
using VhostDeviceCan.VhostUser;

namespace VhostDeviceCan.Backend.Tests;

/// <summary>Config space over GET/SET_CONFIG and the back-end's config-change request (docs/spec/vhost-user.md §9).</summary>
public sealed class ConfigTests
{
    [Theory]
    [MemberData(nameof(Backends.Both), MemberType = typeof(Backends))]
    public void Get_config_returns_exactly_the_requested_size(BackendKind kind)
    {
        using var backend = Backends.Start(kind);
        using var frontend = VirtioFrontend.Connect(backend.SocketPath);
        foreach (uint size in new uint[] { 0, 1, 8, EchoDevice.ConfigSize, 100, ConfigHeader.MaxConfigSize })
        {
            byte[] config = frontend.GetConfig(0, size);
            Assert.Equal((int)size, config.Length);
            // Bytes beyond the device's 16 read as zero.
            Assert.All(config.Skip(EchoDevice.ConfigSize), b => Assert.Equal(0, b));
        }
        Assert.Equal(4, frontend.GetConfig(ConfigHeader.MaxConfigSize - 4, 4).Length);
    }

    [Theory]
    [MemberData(nameof(Backends.Both), MemberType = typeof(Backends))]
    public void Set_config_on_writable_bytes_works_and_on_read_only_bytes_is_refused(BackendKind kind)
    {
        using var backend = Backends.Start(kind);
        using var frontend = VirtioFrontend.Connect(backend.SocketPath);
        frontend.SetConfig(2, [1, 2, 3, 4, 5, 6]);
        Assert.Equal(new byte[] { 0, 0, 1, 2, 3, 4, 5, 6, 0, 0 }, frontend.GetConfig(0, 10));

        var refused = Assert.Throws<VhostUserException>(() => frontend.SetConfig(7, [9, 9]));
        Assert.Equal(VhostUserError.RequestFailed, refused.Error);
        refused = Assert.Throws<VhostUserException>(() => frontend.SetConfig(12, [9]));
        Assert.Equal(VhostUserError.RequestFailed, refused.Error);

        // Nothing of the refused writes landed, and the connection is still good.
        Assert.Equal(new byte[] { 0, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0 }, frontend.GetConfig(0, 16));
        frontend.Start();
        EchoTraffic.Run(frontend, 0, 50);
    }

    [Theory]
    [MemberData(nameof(Backends.Both), MemberType = typeof(Backends))]
    public void Writing_0xFF_to_config_byte_0_makes_the_device_send_a_config_change(BackendKind kind)
    {
        using var backend = Backends.Start(kind);
        using var frontend = VirtioFrontend.Connect(backend.SocketPath);
        var listener = frontend.BackendRequests!;
        frontend.Start();

        frontend.SetConfig(0, [0xFF]);
        Assert.True(listener.WaitForConfigChange(Sessions.Wait), "no BACKEND_CONFIG_CHANGE_MSG arrived");
        Assert.Equal(new MessageHeader((uint)BackendRequest.CONFIG_CHANGE_MSG, MessageHeader.Version, 0), listener.LastRequest);
        Assert.Equal(0xFF, frontend.GetConfig(0, 1)[0]);

        // Any other value is a plain write.
        frontend.SetConfig(0, [0x01]);
        EchoTraffic.Run(frontend, 0, 50);
        Assert.Equal(1, listener.ConfigChangeCount);
    }
}
