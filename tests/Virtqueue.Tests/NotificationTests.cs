namespace VhostDeviceCan.Virtqueue.Tests;

/// <summary>Notification suppression (docs/spec/virtqueue.md §4) and index wrap-around (docs/spec/virtqueue.md §6).</summary>
public class NotificationTests
{
    [Theory]
    [InlineData(0, 1, 0, true)]             // the first buffer crosses used_event 0
    [InlineData(0, 2, 1, false)]
    [InlineData(5, 6, 5, true)]
    [InlineData(5, 9, 2, true)]             // event inside a batch
    [InlineData(5, 5, 2, false)]            // batch stops just before the event entry
    [InlineData(5, 2, 2, false)]            // nothing added
    [InlineData(0xFFFF, 0, 0xFFFF, true)]   // the entry at 0xFFFF, idx wraps to 0
    [InlineData(0xFFFE, 2, 0xFFF0, true)]   // a batch across the wrap
    [InlineData(3, 2, 0xFFF0, false)]
    [InlineData(0, 0, 0xFFFF, false)]
    public void NeedEvent_is_true_when_the_batch_contains_the_event_entry(int eventIdx, int newIdx, int oldIdx, bool expected) =>
        Assert.Equal(expected, RingLayout.NeedEvent((ushort)eventIdx, (ushort)newIdx, (ushort)oldIdx));

    private static void OneRoundTrip(QueuePair q, out bool notify)
    {
        q.Offer(new DriverBuffer(q.DataGpa, 1, true));
        var chain = q.PopChain();
        q.Device.AddUsed(chain.Head, 1);
        notify = q.Device.PublishUsed();
        Assert.True(q.Driver.TryTakeUsed(out _, out _));
    }

    [Fact]
    public void Used_event_0_notifies_at_the_1st_and_the_65537th_buffer()
    {
        // The driver half leaves used_event alone (it is not told about EVENT_IDX), so it stays 0.
        using var q = new QueuePair(64);
        q.Device.EventIdx = true;
        q.Driver.SetUsedEventRaw(0);
        var notified = new List<int>();
        for (int i = 1; i <= 65537; i++)
        {
            OneRoundTrip(q, out bool notify);
            if (notify) notified.Add(i);
        }
        Assert.Equal([1, 65537], notified);
    }

    [Fact]
    public void With_event_idx_a_driver_that_reads_everything_is_notified_for_every_batch()
    {
        using var q = new QueuePair(16, eventIdx: true);
        for (int i = 0; i < 40; i++)
        {
            OneRoundTrip(q, out bool notify);
            Assert.True(notify);
        }
    }

    [Fact]
    public void No_interrupt_flag_suppresses_notifications_without_event_idx_only()
    {
        using var q = new QueuePair(8);
        q.Driver.SuppressInterrupts = true;
        OneRoundTrip(q, out bool notify);
        Assert.False(notify);
        q.Driver.SuppressInterrupts = false;
        OneRoundTrip(q, out notify);
        Assert.True(notify);

        // With EVENT_IDX the flags bit is ignored: only used_event counts.
        q.Device.EventIdx = true;
        q.Driver.SetAvailableFlagsRaw(RingLayout.AvailFlagNoInterrupt);
        q.Driver.SetUsedEventRaw(q.Device.NextUsed);
        OneRoundTrip(q, out notify);
        Assert.True(notify);
    }

    [Fact]
    public void Publishing_nothing_asks_for_no_notification()
    {
        using var q = new QueuePair(8);
        Assert.False(q.Device.PublishUsed());
        OneRoundTrip(q, out _);
        Assert.False(q.Device.PublishUsed());
    }

    [Fact]
    public void Disable_and_enable_notification_use_used_flags_without_event_idx()
    {
        using var q = new QueuePair(8);
        q.Device.DisableNotification();
        Assert.Equal(RingLayout.UsedFlagNoNotify, q.Driver.UsedFlags);
        q.Offer(new DriverBuffer(q.DataGpa, 1, false));
        Assert.False(q.Driver.NeedsKick());
        Assert.True(q.Device.EnableNotification()); // the buffer above arrived while kicks were off
        Assert.Equal(0, q.Driver.UsedFlags);
        q.PopChain();
        Assert.False(q.Device.EnableNotification());
        q.Offer(new DriverBuffer(q.DataGpa, 1, false));
        Assert.True(q.Driver.NeedsKick());
    }

    [Fact]
    public void Enable_notification_closes_the_lost_kick_race_with_event_idx()
    {
        using var q = new QueuePair(8, eventIdx: true);
        Assert.False(q.Device.EnableNotification()); // avail_event = 0
        q.Device.DisableNotification();
        Assert.Equal(0, q.Driver.UsedFlags); // with EVENT_IDX used.flags stays 0

        q.Offer(new DriverBuffer(q.DataGpa, 1, false));
        Assert.True(q.Driver.NeedsKick()); // entry 0 crossed avail_event 0
        q.PopChain();
        Assert.Equal(PopResult.Empty, q.Device.TryPop(out _));

        // The driver adds a buffer after the device saw the ring empty but before it re-enabled:
        // avail_event is still 0, so the driver does not kick.
        q.Offer(new DriverBuffer(q.DataGpa, 1, false));
        Assert.False(q.Driver.NeedsKick());
        // Re-enabling re-reads avail.idx and tells the device to keep draining.
        Assert.True(q.Device.EnableNotification());
        Assert.Equal(1, q.Driver.AvailEvent);
        q.PopChain();
        Assert.False(q.Device.EnableNotification());
        Assert.Equal(2, q.Driver.AvailEvent);
        q.Offer(new DriverBuffer(q.DataGpa, 1, false));
        Assert.True(q.Driver.NeedsKick());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Avail_and_used_indices_wrap_from_0xFFFF_to_0(bool eventIdx)
    {
        using var q = new QueuePair(8, eventIdx);
        q.Driver.ResetIndices(0xFFF9);
        q.Device.NextAvailable = 0xFFF9;
        q.Device.SyncUsedIndexFromMemory();
        Assert.Equal(0xFFF9, q.Device.NextUsed);

        for (int round = 0; round < 5; round++)
        {
            // A full ring each round, so entries sit on both sides of the wrap.
            var heads = new ushort[8];
            for (int i = 0; i < 8; i++)
            {
                q.Write(q.DataGpa + (ulong)i * 16, [(byte)(round * 8 + i)]);
                heads[i] = q.Driver.AddChain([new DriverBuffer(q.DataGpa + (ulong)i * 16, 1, false), new DriverBuffer(q.DataGpa + 0x1000 + (ulong)i, 1, true)], indirect: true);
            }
            q.Driver.PublishAvailable();
            for (int i = 0; i < 8; i++)
            {
                var chain = q.PopChain();
                Assert.Equal(heads[i], chain.Head);
                var b = new byte[1];
                q.Device.GetReader(chain).Read(b);
                Assert.Equal((byte)(round * 8 + i), b[0]);
                q.Device.AddUsed(chain.Head, (uint)i);
            }
            Assert.Equal(PopResult.Empty, q.Device.TryPop(out _));
            Assert.True(q.Device.PublishUsed());
            for (int i = 0; i < 8; i++)
            {
                Assert.True(q.Driver.TryTakeUsed(out ushort head, out uint length));
                Assert.Equal((heads[i], (uint)i), (head, length));
            }
            Assert.False(q.Driver.TryTakeUsed(out _, out _));
        }
        Assert.Equal(unchecked((ushort)(0xFFF9 + 40)), q.Device.NextAvailable);
        Assert.Equal(unchecked((ushort)(0xFFF9 + 40)), q.Driver.UsedIndex);
    }

    [Fact]
    public void A_full_ring_across_the_wrap_is_not_taken_for_empty_or_broken()
    {
        using var q = new QueuePair(4);
        q.Driver.ResetIndices(0xFFFE);
        q.Device.NextAvailable = 0xFFFE;
        for (int i = 0; i < 4; i++) q.Driver.AddChain([new DriverBuffer(q.DataGpa, 1, false)]);
        q.Driver.PublishAvailable(); // avail.idx = 2, last_avail = 0xFFFE: 4 pending
        for (int i = 0; i < 4; i++) q.PopChain();
        Assert.Equal(PopResult.Empty, q.Device.TryPop(out _));
    }
}
