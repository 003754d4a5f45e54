using VhostDeviceCan.Can;
using VhostDeviceCan.VirtioCanWire;
using VhostDeviceCan.Frontend;
using VhostDeviceCan.Guest;
using VhostDeviceCan.Interop;
using VhostDeviceCan.VhostUser;
using static VhostDeviceCan.Daemon.Tests.Traffic;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>
/// A front-end that shrinks the memory it shared, or shares memory that could be shrunk, against
/// the published daemon: it fails or is refused on its own socket, and the guest on the other
/// socket never notices.
/// </summary>
public sealed class HostileMemoryTests
{
    private static VirtioCanGuest Started(string socket, GuestRamSealing sealing = GuestRamSealing.Sealed)
    {
        var guest = VirtioCanGuest.Connect(socket, new VirtioCanGuestOptions { MemorySealing = sealing });
        Assert.True(guest.Start(Patience), $"{socket}: START refused");
        return guest;
    }

    [Fact]
    public void Shrinking_memory_during_traffic_fails_unsealable_memory_is_refused_and_the_other_guest_never_notices()
    {
        using var daemon = DaemonProcess.Start(2);
        using var b = Started(daemon.Socket(1));

        // Front-end A shares memory it could still shrink; the daemon seals it on receipt.
        using (var a = Started(daemon.Socket(0), GuestRamSealing.Sealable))
        {
            int[] ramFds = a.Frontend.Ram.Regions.Select(r => r.Fd).Distinct().ToArray();
            long[] sizes = [0, MemoryMapping.PageSize, (long)(a.Frontend.Ram.Regions[0].Size / 2)];
            int attempts = 0, refusedWithEperm = 0;
            using var stop = new ManualResetEventSlim();
            var shrinker = new Thread(() =>
            {
                while (!stop.IsSet)
                {
                    foreach (int fd in ramFds)
                        foreach (long size in sizes)
                        {
                            attempts++;
                            if (Libc.ftruncate(fd, size) < 0 && Errno.Last == Errno.EPERM) refusedWithEperm++;
                        }
                    Thread.Sleep(1);
                }
            }) { IsBackground = true };
            shrinker.Start();
            try
            {
                Traffic.Run(10_000, [a, b], [a, b]);
            }
            finally
            {
                stop.Set();
                shrinker.Join();
            }
            Assert.True(attempts >= 3, $"only {attempts} shrink attempts ran during the traffic");
            Assert.Equal(attempts, refusedWithEperm);
            Assert.Equal(10_000, b.RxFrames);
        }

        // Front-end A again, with memory nobody can seal: refused, with one line saying why and how to allow it.
        var refused = Assert.Throws<VhostUserException>(() => VirtioCanGuest.Connect(daemon.Socket(0),
            new VirtioCanGuestOptions { MemorySealing = GuestRamSealing.Unsealable }));
        Assert.Equal(VhostUserError.RequestFailed, refused.Error);
        daemon.Process.WaitForLog(@"can\.sock0: refused ADD_MEM_REG: memory region .*MFD_ALLOW_SEALING.*SIGBUS.*--allow-unsealed-memory");
        // B meanwhile: its requests are all answered OK, nothing arrives from the refused front-end.
        for (int i = 0; i < 50; i++)
            Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, b.SendAndWait(CanFrame.Classic(0x321, false, [(byte)i])));
        Assert.True(ReceivesNothing(b), "b heard something from the refused front-end");

        // A well-behaved front-end on A's socket is served as if nothing had happened.
        using (var again = Started(daemon.Socket(0)))
        {
            long before = b.RxFrames;
            Traffic.Run(10_000, [again, b], [again, b]);
            Assert.Equal(before + 10_000, b.RxFrames);
        }
        Assert.False(daemon.Process.HasExited, "the daemon died");
        Assert.DoesNotContain(daemon.Process.Stderr, l => l.Contains("can.sock1: front-end disconnected", StringComparison.Ordinal));
        daemon.Process.Signal("TERM");
        int status = daemon.Process.WaitForExit();
        Assert.True(status == 0, $"exit status {status}: " + string.Join("\n", daemon.Process.Stderr.TakeLast(20)));
    }

    [Fact]
    public void With_allow_unsealed_memory_an_unsealable_front_end_is_served_with_a_warning()
    {
        using var daemon = DaemonProcess.Start(2, ["--allow-unsealed-memory"]);
        daemon.Process.WaitForLog("WARN .*unsealed guest memory is allowed");
        using var a = Started(daemon.Socket(0), GuestRamSealing.Unsealable);
        using var b = Started(daemon.Socket(1));
        daemon.Process.WaitForLog(@"can\.sock0: memory region .* accepted unsealed");
        Traffic.Run(1_000, [a, b], [a, b]);
        Assert.Equal(1_000, b.RxFrames);
    }
}
