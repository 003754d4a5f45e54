using VhostDeviceCan.Frontend;
using VhostDeviceCan.VhostUser;

namespace VhostDeviceCan.Backend.Tests;

/// <summary>QEMU's connect and start sequences (docs/spec/vhost-user.md §10.1, docs/spec/vhost-user.md §10.2), every reply checked.</summary>
public sealed class HandshakeTests
{
    [Theory]
    [MemberData(nameof(Backends.Both), MemberType = typeof(Backends))]
    public void Qemu_connect_and_start_sequence_gets_the_expected_reply_to_every_request(BackendKind kind)
    {
        using var backend = Backends.Start(kind);
        // AckEverything: every request, not only those QEMU waits for, must come back with ack 0.
        var options = new VirtioFrontendOptions { AckEverything = true };
        using var frontend = VirtioFrontend.Connect(backend.SocketPath, options);
        var n = frontend.Negotiation;

        ulong expected = Sessions.Features() | VirtioFeatures.Bit(VirtioFeatures.VHOST_USER_F_PROTOCOL_FEATURES);
        Assert.Equal(expected, n.OfferedFeatures);
        Assert.Equal(expected, n.OfferedFeaturesAfterOwner);
        Assert.Equal(BackendSession.OfferedProtocolFeatures, n.OfferedProtocolFeatures);
        Assert.Equal(BackendSession.OfferedProtocolFeatures, n.AckedProtocolFeatures);
        Assert.Equal(2UL, n.QueueNum);
        Assert.Equal((ulong)BackendSession.MaxMemorySlots, n.MaxMemSlots);
        Assert.NotNull(frontend.BackendRequests);
        Assert.Equal(Sessions.Features(), frontend.AckedFeatures);

        Assert.Equal(0, frontend.Client.GetStatus());
        frontend.Start();
        Assert.Equal(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK | DeviceStatus.DRIVER_OK,
            frontend.Client.GetStatus());
        Assert.Equal(16, frontend.GetConfig(0, 16).Length);

        EchoTraffic.Run(frontend, 0, 500);
        EchoTraffic.Run(frontend, 1, 500, indirect: true);

        Assert.Equal(new uint[] { 500, 500 }, frontend.Stop());
        Assert.Equal(0, frontend.Client.GetStatus());
        // A guest reboot repeats the start sequence on the same connection (docs/spec/vhost-user.md §10.3 then docs/spec/vhost-user.md §10.2).
        frontend.Start();
        EchoTraffic.Run(frontend, 0, 100);
        Assert.Equal(100u, frontend.Stop()[0]);
    }

    [Theory]
    [MemberData(nameof(Backends.Both), MemberType = typeof(Backends))]
    public void Memory_goes_by_set_mem_table_when_slots_are_not_negotiated(BackendKind kind)
    {
        using var backend = Backends.Start(kind);
        var options = new VirtioFrontendOptions
        {
            ProtocolFeatures = VhostUserFrontend.QemuProtocolFeatures & ~(ProtocolFeatures.CONFIGURE_MEM_SLOTS | ProtocolFeatures.STATUS),
            AckEverything = true,
            SplitMemory = true,
        };
        Sessions.ProveWorking(backend.SocketPath, options);
    }
}
