using System.Diagnostics;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Can.Tests;

/// <summary>A full inbox holds its senders back instead of losing frames, unless its member takes nothing for too long.</summary>
public class VirtualCanBusBackPressureTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static VirtualCanBus NewBus(TimeSpan overrunAfter) =>
        new("bp-" + Guid.NewGuid().ToString("N")) { OverrunAfter = overrunAfter };

    private static CanFrame Numbered(int sequence) => CanFrame.Classic(0x100, false, BitConverter.GetBytes(sequence));

    [Fact]
    public void A_full_inbox_stops_the_batch_and_the_sender_resumes_after_the_drain()
    {
        var bus = NewBus(TimeSpan.FromSeconds(30));
        using var sender = bus.Join();
        using var small = bus.Join(inboxCapacity: 8);
        using var large = bus.Join(inboxCapacity: 32);
        var frames = Enumerable.Range(0, 20).Select(Numbered).ToArray();

        // Only what every member has room for goes out, to all of them.
        Assert.Equal(8, sender.TransmitBatch(frames, out TransmitStatus status));
        Assert.Equal(TransmitStatus.WouldBlock, status);
        Assert.Equal(8, large.PendingCount);
        Assert.False(IsReadable(sender.WritePollFd));
        Assert.Equal(TransmitStatus.WouldBlock, sender.Transmit(frames[8]));
        Assert.False(IsReadable(sender.WritePollFd));

        var received = new CanFrame[32];
        Assert.Equal(8, small.Receive(received, out _));
        // Drained: the blocked sender is told at once.
        Assert.True(IsReadable(sender.WritePollFd));
        Assert.Equal(8, sender.TransmitBatch(frames.AsSpan(8), out status));
        Assert.False(IsReadable(sender.WritePollFd));
        Assert.Equal(8, small.Receive(received.AsSpan(8), out _));
        Assert.Equal(4, sender.TransmitBatch(frames.AsSpan(16), out status));
        Assert.Equal(TransmitStatus.Sent, status);
        Assert.Equal(4, small.Receive(received.AsSpan(16), out _));

        Assert.Equal(Enumerable.Range(0, 20), received[..20].Select(f => BitConverter.ToInt32(f.Data)));
        Assert.Equal(20, large.Receive(received, out _));
        Assert.Equal(Enumerable.Range(0, 20), received[..20].Select(f => BitConverter.ToInt32(f.Data)));
        Assert.Equal(0, small.Dropped);
        Assert.Equal(0, large.Dropped);
        Assert.False(small.IsOverrun);
    }

    [Fact]
    public void A_fast_sender_and_a_slow_receiver_lose_nothing()
    {
        const int Count = 50_000;
        var bus = NewBus(TimeSpan.FromSeconds(30));
        using var sender = bus.Join();
        using var receiver = bus.Join(inboxCapacity: 64);
        var frames = Enumerable.Range(0, Count).Select(Numbered).ToArray();
        int blocked = 0;
        var sending = new Thread(() => blocked = sender.SendAll(frames, Patience)) { IsBackground = true };
        sending.Start();

        var got = new List<int>(Count);
        var batch = new CanFrame[16];
        var clock = Stopwatch.StartNew();
        using var epoll = new Epoll();
        epoll.Add(receiver.PollFd, token: 0);
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];
        while (got.Count < Count && clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            epoll.Wait(events, timeoutMs: 1000);
            int n = receiver.Receive(batch, out _);
            for (int i = 0; i < n; i++) got.Add(BitConverter.ToInt32(batch[i].Data));
            // Slower than the sender: small takes with a pause now and then.
            if (got.Count % 4096 < 16) Thread.Sleep(1);
        }

        Assert.True(sending.Join(Patience));
        Assert.Equal(Enumerable.Range(0, Count), got);
        Assert.Equal(0, receiver.Dropped);
        Assert.Equal(0, receiver.Overruns);
        Assert.True(blocked > 0, "the sender never had to wait");
    }

    [Fact]
    public void A_member_that_takes_nothing_is_overrun_after_the_bound_and_the_others_get_everything()
    {
        const int Count = 20_000;
        const int StuckCapacity = 16;
        var bound = TimeSpan.FromMilliseconds(50);
        var bus = NewBus(bound);
        using var sender = bus.Join();
        using var receiver = bus.Join(inboxCapacity: 1 << 15);
        using var stuck = bus.Join(inboxCapacity: StuckCapacity);
        var frames = Enumerable.Range(0, Count).Select(Numbered).ToArray();

        var clock = Stopwatch.StartNew();
        int blocked = sender.SendAll(frames, Patience);
        var elapsed = clock.Elapsed;

        Assert.True(blocked > 0);
        // The sender waited for the stuck member once, for the bound, and not again.
        Assert.True(elapsed >= bound * 0.9, $"sent in {elapsed.TotalMilliseconds} ms");
        Assert.True(stuck.IsOverrun);
        Assert.Equal(1, stuck.Overruns);
        Assert.Equal(Count - StuckCapacity, stuck.Dropped);
        Assert.Contains("overrun now", stuck.ToString(), StringComparison.Ordinal);

        var got = new CanFrame[Count];
        Assert.Equal(Count, receiver.Receive(got, out _));
        Assert.Equal(Enumerable.Range(0, Count), got.Select(f => BitConverter.ToInt32(f.Data)));
        Assert.Equal(0, receiver.Dropped);

        // Taking frames again ends the overrun: what it holds is the oldest, then new frames arrive.
        var held = new CanFrame[StuckCapacity];
        Assert.Equal(StuckCapacity, stuck.Receive(held, out _));
        Assert.Equal(Enumerable.Range(0, StuckCapacity), held.Select(f => BitConverter.ToInt32(f.Data)));
        Assert.False(stuck.IsOverrun);
        Assert.Equal(TransmitStatus.Sent, sender.Transmit(Numbered(Count)));
        Assert.Equal(1, stuck.Receive(held, out _));
        Assert.Equal(Count, BitConverter.ToInt32(held[0].Data));
        Assert.Equal(Count - StuckCapacity, stuck.Dropped);
    }

    [Fact]
    public void A_member_that_leaves_releases_senders_waiting_for_it()
    {
        var bus = NewBus(TimeSpan.FromSeconds(30));
        using var sender = bus.Join();
        var leaver = bus.Join(inboxCapacity: 4);
        Assert.Equal(4, sender.TransmitBatch(Enumerable.Range(0, 8).Select(Numbered).ToArray(), out TransmitStatus status));
        Assert.Equal(TransmitStatus.WouldBlock, status);
        Assert.False(IsReadable(sender.WritePollFd));

        leaver.Dispose();

        Assert.True(IsReadable(sender.WritePollFd));
        Assert.Equal(TransmitStatus.Sent, sender.Transmit(Numbered(4)));
        Assert.False(IsReadable(sender.WritePollFd));
    }

    [Fact]
    public void Nothing_is_armed_while_nobody_is_blocked()
    {
        var bus = NewBus(TimeSpan.FromMilliseconds(20));
        using var sender = bus.Join();
        using var receiver = bus.Join(inboxCapacity: 8);
        Assert.Equal(TransmitStatus.Sent, sender.Transmit(Numbered(0)));
        Thread.Sleep(60);
        // No timer fires for a sender that never waited: an idle bus costs no wake-ups.
        Assert.False(IsReadable(sender.WritePollFd));
        Assert.Equal(Libc.EPOLLIN, sender.WritePollEvents);
        Assert.True(sender.HoldsBackSenders);
    }

    private static bool IsReadable(int fd)
    {
        using var epoll = new Epoll();
        epoll.Add(fd, token: 1);
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];
        return epoll.Wait(events, timeoutMs: 0) == 1;
    }
}
