using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;

namespace VhostDeviceCan.Daemon.Tests;

/// <summary>Frame streams between in-process guests, checked frame by frame.</summary>
internal static class Traffic
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(200);

    /// <summary>A simulated guest on <paramref name="socket"/> whose controller has started.</summary>
    public static VirtioCanGuest Started(string socket)
    {
        var guest = VirtioCanGuest.Connect(socket);
        Assert.True(guest.Start(Patience), $"{socket}: START refused");
        return guest;
    }

    /// <summary>Frame <paramref name="i"/> of sender <paramref name="side"/>: classic standard,
    /// classic extended, remote and FD in turn, each carrying its sequence number.</summary>
    public static CanFrame Frame(int side, int i)
    {
        Span<byte> data = stackalloc byte[64];
        for (int b = 0; b < data.Length; b++) data[b] = (byte)(i >> (8 * (b % 4)) ^ b ^ side);
        uint tag = (uint)(side << 24 | i);
        return (i % 4) switch
        {
            // At least one byte: it carries the sender, as the standard ID cannot.
            0 => CanFrame.Classic((uint)(i & 0x7FF), false, data[..(1 + i % 8)]),
            1 => CanFrame.Classic(tag, true, data[..8]),
            2 => CanFrame.Remote(tag, true, i % 9),
            _ => CanFrame.Fd(tag, true, data[..(i % 2 == 1 ? 64 : 12)], CanFrame.CANFD_BRS),
        };
    }

    /// <summary>What a receiver gets for <see cref="Frame"/>: BRS cannot cross virtio 1.4 (docs/spec/linux-driver.md §8.3).</summary>
    public static CanFrame Received(int side, int i)
    {
        CanFrame frame = Frame(side, i);
        if (frame.IsFd) frame.Flags = CanFrame.CANFD_FDF;
        return frame;
    }

    /// <summary>
    /// <paramref name="count"/> frames from each sender to every receiver, interleaved in one
    /// thread: each guest keeps its Txq full, every receiver drains its Rxq each turn. Every
    /// receiver must get exactly the senders' streams, in order, with nothing else (no echo).
    /// </summary>
    public static void Run(int count, VirtioCanGuest[] senders, VirtioCanGuest[] receivers)
    {
        var sent = new int[senders.Length];
        var got = new int[receivers.Length, senders.Length];
        var batch = new CanFrame[256];
        long sentBefore = senders.Sum(s => s.TxOk);
        DateTime deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            bool progress = false;
            for (int s = 0; s < senders.Length; s++)
            {
                progress |= senders[s].CollectTxCompletions() > 0;
                int before = sent[s];
                while (sent[s] < count && sent[s] - Slowest(receivers, senders, got, s) < Window
                    && senders[s].TrySend(Frame(SideOf(senders[s], senders), sent[s]))) sent[s]++;
                if (sent[s] != before) { senders[s].Flush(); progress = true; }
            }
            bool done = true;
            for (int r = 0; r < receivers.Length; r++)
            {
                int n;
                while ((n = receivers[r].Receive(batch)) > 0)
                {
                    progress = true;
                    for (int k = 0; k < n; k++) Check(receivers[r], r, senders, got, batch[k]);
                }
                for (int s = 0; s < senders.Length; s++)
                    if (!ReferenceEquals(receivers[r], senders[s]) && got[r, s] < count) done = false;
            }
            if (done && senders.All(s => s.TxInFlight == 0)) break;
            Assert.True(DateTime.UtcNow < deadline, $"stalled: sent [{string.Join(',', sent)}], received {Describe(got)}");
            if (!progress) receivers[0].WaitForRx(TimeSpan.FromMilliseconds(5));
        }
        Assert.Equal(sentBefore + senders.Length * count, senders.Sum(s => s.TxOk));
        Assert.All(senders, s => Assert.Equal(0, s.TxNotOk));
        Assert.All(receivers, r => Assert.Equal(0, r.RxDropped));
    }

    /// <summary>
    /// Frames a sender may have on the way to its slowest receiver. A CAN bus has no flow control
    /// and neither has the virtual bus: a member's inbox (1024 frames) drops what does not fit
    /// when its device thread falls behind (2 shared cores make that likely). Below that bound
    /// nothing may be lost.
    /// </summary>
    private const int Window = 512;

    private static int Slowest(VirtioCanGuest[] receivers, VirtioCanGuest[] senders, int[,] got, int s)
    {
        int slowest = int.MaxValue;
        for (int r = 0; r < receivers.Length; r++)
            if (!ReferenceEquals(receivers[r], senders[s])) slowest = Math.Min(slowest, got[r, s]);
        return slowest == int.MaxValue ? int.MaxValue / 2 : slowest;
    }

    private static int SideOf(VirtioCanGuest guest, VirtioCanGuest[] senders) => Array.IndexOf(senders, guest) + 1;

    private static void Check(VirtioCanGuest receiver, int r, VirtioCanGuest[] senders, int[,] got, in CanFrame frame)
    {
        // The sender is in the top byte of extended IDs; standard IDs are every sender's frame 4k.
        for (int s = 0; s < senders.Length; s++)
        {
            if (ReferenceEquals(receiver, senders[s])) continue;
            if (frame == Received(s + 1, got[r, s]))
            {
                got[r, s]++;
                return;
            }
        }
        Assert.Fail($"receiver {r}: unexpected frame {frame}; expected next {Describe(got)}");
    }

    private static string Describe(int[,] got)
    {
        var parts = new List<string>();
        for (int r = 0; r < got.GetLength(0); r++)
            parts.Add("[" + string.Join(',', Enumerable.Range(0, got.GetLength(1)).Select(s => got[r, s])) + "]");
        return string.Join(' ', parts);
    }

    /// <summary>True if nothing arrives within <see cref="Quiet"/>.</summary>
    public static bool ReceivesNothing(VirtioCanGuest guest) => guest.Receive(new CanFrame[8], Quiet) == 0;

    public static CanFrame ReceiveOne(VirtioCanGuest guest)
    {
        var frames = new CanFrame[1];
        Assert.Equal(1, guest.Receive(frames, Patience));
        return frames[0];
    }
}
