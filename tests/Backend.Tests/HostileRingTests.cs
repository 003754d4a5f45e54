using VhostDeviceCan.Frontend;
using VhostDeviceCan.VhostUser;
using VhostDeviceCan.Virtqueue;

namespace VhostDeviceCan.Backend.Tests;

/// <summary>
/// A guest that breaks the ring rules at runtime (docs/spec/virtqueue.md §7): only that queue stops, the
/// front-end hears of it on the error eventfd, and a reset brings the queue back.
/// </summary>
public sealed class HostileRingTests
{
    public enum Recovery { ResetDevice, Reconnect, GuestReset }

    public static TheoryData<BackendKind, Recovery> Cases()
    {
        var data = new TheoryData<BackendKind, Recovery>();
        foreach (var kind in new[] { BackendKind.InProcess, BackendKind.Process })
            foreach (var recovery in Enum.GetValues<Recovery>())
                data.Add(kind, recovery);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_descriptor_loop_breaks_only_its_queue_until_reset(BackendKind kind, Recovery recovery)
    {
        using var backend = Backends.Start(kind);
        // Without STATUS, a guest reset is only the ring stop and restart of docs/spec/vhost-user.md §10.3 + docs/spec/vhost-user.md §10.2 (no SET_STATUS(0)).
        var options = new VirtioFrontendOptions
        {
            ProtocolFeatures = VhostUserFrontend.QemuProtocolFeatures & ~ProtocolFeatures.STATUS,
        };
        var frontend = VirtioFrontend.Connect(backend.SocketPath, options);
        try
        {
            frontend.Start();
            EchoTraffic.Run(frontend, 0, 100);

            OfferDescriptorLoop(frontend.Queue(0));
            Assert.True(frontend.Queue(0).WaitForError(Sessions.Wait), "the broken queue was not reported on the error eventfd");

            // The other queue keeps working, and the broken one stays quiet: nothing used, no new error.
            EchoTraffic.Run(frontend, 1, 500, indirect: true);
            Assert.Equal(frontend.Queue(0).Driver.LastUsed, frontend.Queue(0).Driver.UsedIndex);

            switch (recovery)
            {
                case Recovery.ResetDevice:
                    frontend.ResetDevice();
                    frontend.Start();
                    break;
                case Recovery.Reconnect:
                    frontend.Dispose();
                    frontend = VirtioFrontend.Connect(backend.SocketPath, options);
                    frontend.Start();
                    break;
                case Recovery.GuestReset:
                    frontend.Stop();
                    frontend.Start();
                    break;
            }
            EchoTraffic.Run(frontend, 0, 300, seed: 1, diagnostics: () => TrafficTests.Describe(backend));
            EchoTraffic.Run(frontend, 1, 300, indirect: true, seed: 2);
        }
        finally
        {
            frontend.Dispose();
        }
    }

    [Theory]
    [MemberData(nameof(Backends.Both), MemberType = typeof(Backends))]
    public void Other_ring_violations_break_the_queue_and_are_reported(BackendKind kind)
    {
        using var backend = Backends.Start(kind);
        using var frontend = VirtioFrontend.Connect(backend.SocketPath);
        var hostile = new Action<DriverQueue>[]
        {
            // Head index beyond the ring.
            d => { d.WriteAvailableRaw(d.AvailableIndex, 0xFFFF); d.SetAvailableIndexRaw((ushort)(d.AvailableIndex + 1)); },
            // avail.idx more than a ring ahead.
            d => d.SetAvailableIndexRaw((ushort)(d.AvailableIndex + d.Size + 1)),
            // A buffer outside guest memory.
            d => { d.WriteDescriptor(0, 0xDEAD_0000_0000, 64, 0, 0); d.WriteAvailableRaw(d.AvailableIndex, 0); d.SetAvailableIndexRaw((ushort)(d.AvailableIndex + 1)); },
            // A readable descriptor after a writable one.
            d =>
            {
                var gpa = frontend.Queue(0).Buffers.BaseGpa;
                d.WriteDescriptor(0, gpa, 16, (ushort)(Descriptor.FlagWrite | Descriptor.FlagNext), 1);
                d.WriteDescriptor(1, gpa + 64, 16, 0, 0);
                d.WriteAvailableRaw(d.AvailableIndex, 0);
                d.SetAvailableIndexRaw((ushort)(d.AvailableIndex + 1));
            },
        };
        foreach (var breakRing in hostile)
        {
            frontend.Start();
            EchoTraffic.Run(frontend, 0, 10);
            breakRing(frontend.Queue(0).Driver);
            frontend.Queue(0).KickFd.Signal();
            Assert.True(frontend.Queue(0).WaitForError(Sessions.Wait), "the broken queue was not reported");
            EchoTraffic.Run(frontend, 1, 50);
            frontend.ResetDevice();
        }
        frontend.Start();
        EchoTraffic.Run(frontend, 0, 100);
    }

    private static void OfferDescriptorLoop(FrontendQueue queue)
    {
        var driver = queue.Driver;
        ulong gpa = queue.Buffers.BaseGpa;
        // 0 → 1 → 0: a chain that never ends ("Looped descriptor").
        driver.WriteDescriptor(0, gpa, 32, Descriptor.FlagNext, 1);
        driver.WriteDescriptor(1, gpa + 64, 32, Descriptor.FlagNext, 0);
        driver.WriteAvailableRaw(driver.AvailableIndex, 0);
        driver.SetAvailableIndexRaw((ushort)(driver.AvailableIndex + 1));
        queue.KickFd.Signal();
    }
}
