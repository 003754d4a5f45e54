using VhostDeviceCan.Frontend;

namespace VhostDeviceCan.Backend.Tests;

/// <summary>Many buffers through the echo device over real sockets, memfd and eventfds.</summary>
public sealed class TrafficTests
{
    private const int Buffers = 100_000;

    public static TheoryData<BackendKind, bool, bool> Modes()
    {
        var data = new TheoryData<BackendKind, bool, bool>();
        foreach (var kind in new[] { BackendKind.InProcess, BackendKind.Process })
        {
            data.Add(kind, true, false);
            data.Add(kind, false, false);
            data.Add(kind, true, true);
            data.Add(kind, false, true);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void Hundred_thousand_buffers_are_echoed_byte_for_byte(BackendKind kind, bool eventIdx, bool indirect)
    {
        using var backend = Backends.Start(kind);
        using var frontend = VirtioFrontend.Connect(backend.SocketPath, new VirtioFrontendOptions { Features = Sessions.Features(eventIdx, indirect) });
        frontend.Start();
        var queue = frontend.Queue(0);

        EchoTraffic.Run(frontend, 0, Buffers, indirect, diagnostics: () => Describe(backend));

        // Batching: the device drains a whole ring per kick and signals once per batch, and the
        // driver kicks only when the device asked (docs/spec/virtqueue.md §4). Signalling or kicking per
        // chain would count about one per buffer; on a loaded machine, where driver and device
        // run side by side and batches shrink, a few buffers per signal is still batching.
        Assert.InRange(queue.CallSignals, 1, Buffers / 2);
        Assert.InRange(queue.CallWakeups, 1, queue.CallSignals);
        Assert.InRange(queue.Kicks, 1, Buffers / 2);
        uint[] bases = frontend.Stop();
        Assert.Equal((uint)(Buffers % 65536), bases[0]);
    }

    [Theory]
    [MemberData(nameof(Backends.Both), MemberType = typeof(Backends))]
    public void Both_queues_work_with_ram_split_around_a_hole(BackendKind kind)
    {
        using var backend = Backends.Start(kind);
        // 4 MiB split in two: the second queue's buffers land in the high region (GPA 4 GiB, file offset 2 MiB).
        var options = new VirtioFrontendOptions { MemorySize = 4 << 20, SplitMemory = true };
        using var frontend = VirtioFrontend.Connect(backend.SocketPath, options);
        Assert.Equal(2, frontend.Ram.Regions.Count);
        frontend.Start();
        Assert.True(frontend.Queue(1).Buffers.BaseGpa >= options.HighMemoryGpa, "queue 1 should use the high region");
        EchoTraffic.Run(frontend, 0, 2000, diagnostics: () => Describe(backend));
        EchoTraffic.Run(frontend, 1, 2000, indirect: true, diagnostics: () => Describe(backend));
    }

    [Theory]
    [MemberData(nameof(Backends.Both), MemberType = typeof(Backends))]
    public void Without_replies_acked_the_session_still_works(BackendKind kind)
    {
        // A front-end without REPLY_ACK syncs with GET_FEATURES instead (docs/spec/vhost-user.md §7).
        using var backend = Backends.Start(kind);
        var options = new VirtioFrontendOptions { ProtocolFeatures = VhostUser.VhostUserFrontend.QemuProtocolFeatures & ~VhostUser.ProtocolFeatures.REPLY_ACK };
        Sessions.ProveWorking(backend.SocketPath, options, () => Describe(backend));
    }

    internal static string Describe(IEchoBackend backend) => backend switch
    {
        InProcessEcho local => local.Log.ToString(),
        EchoHostProcess process => process.Output,
        _ => "",
    };
}
