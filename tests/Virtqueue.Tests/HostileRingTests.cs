namespace VhostDeviceCan.Virtqueue.Tests;

/// <summary>Every driver error of docs/spec/virtqueue.md §7 breaks the queue with a reason naming it.</summary>
public class HostileRingTests
{
    private const ushort N = 8;
    private const ushort Next = Descriptor.FlagNext, Write = Descriptor.FlagWrite, Indirect = Descriptor.FlagIndirect;

    /// <summary>Lays out a hostile ring on queue A, checks A breaks, and that queue B in the same memory still works.</summary>
    private static void AssertBreaks(string reasonPart, Action<QueuePair> arrange, bool indirectNegotiated = true)
    {
        using var memory = TestMemory.Single(2 * QueuePair.Span);
        using var a = new QueuePair(N, indirect: indirectNegotiated, memory: memory);
        using var b = new QueuePair(N, memory: memory, baseGpa: TestMemory.Gpa + QueuePair.Span);
        arrange(a);

        ushort usedBefore = a.Driver.UsedIndex;
        Assert.Equal(PopResult.Broken, a.Device.TryPop(out var chain));
        Assert.Equal(default, chain);
        Assert.True(a.Device.IsBroken);
        Assert.Contains(reasonPart, a.Device.BrokenReason, StringComparison.Ordinal);
        // Stays broken, and writes nothing to guest memory any more.
        Assert.Equal(PopResult.Broken, a.Device.TryPop(out _));
        a.Device.AddUsed(0, 1);
        Assert.False(a.Device.PublishUsed());
        Assert.Equal(usedBefore, a.Driver.UsedIndex);

        // The other queue is unaffected.
        b.Write(b.DataGpa, [42]);
        ushort head = b.Offer(new DriverBuffer(b.DataGpa, 1, false), new DriverBuffer(b.DataGpa + 1, 1, true));
        var good = b.PopChain();
        b.Device.AddUsed(good.Head, 1);
        Assert.True(b.Device.PublishUsed());
        Assert.True(b.Driver.TryTakeUsed(out ushort usedHead, out _));
        Assert.Equal(head, usedHead);

        // Until a reset.
        a.Device.Reset();
        Assert.False(a.Device.IsBroken);
        Assert.Null(a.Device.BrokenReason);
        Assert.False(a.Device.IsReady);
    }

    private static void Ring(QueuePair q, params ushort[] heads)
    {
        for (int i = 0; i < heads.Length; i++) q.Driver.WriteAvailableRaw((ushort)i, heads[i]);
        q.Driver.SetAvailableIndexRaw((ushort)heads.Length);
    }

    private static void Table(QueuePair q, ulong gpa, params Descriptor[] entries)
    {
        var bytes = new byte[entries.Length * Descriptor.Size];
        for (int i = 0; i < entries.Length; i++) entries[i].Write(bytes.AsSpan(i * Descriptor.Size));
        q.Write(gpa, bytes);
    }

    [Fact]
    public void Avail_idx_more_than_N_ahead() => AssertBreaks("more than the queue size", q => q.Driver.SetAvailableIndexRaw(N + 1));

    [Fact]
    public void Avail_idx_moved_backwards() => AssertBreaks("ahead of last_avail", q => q.Driver.SetAvailableIndexRaw(0xFFFF));

    [Fact]
    public void Head_not_below_N() => AssertBreaks("Head descriptor index 8", q => Ring(q, N));

    [Fact]
    public void Next_not_below_N() => AssertBreaks("has next 8, not below the table size 8", q =>
    {
        q.Driver.WriteDescriptor(0, q.DataGpa, 1, Next, N);
        Ring(q, 0);
    });

    [Fact]
    public void Self_loop() => AssertBreaks("Looped descriptor chain", q =>
    {
        q.Driver.WriteDescriptor(2, q.DataGpa, 1, Next, 2);
        Ring(q, 2);
    });

    [Fact]
    public void Two_descriptor_loop() => AssertBreaks("Looped descriptor chain", q =>
    {
        q.Driver.WriteDescriptor(0, q.DataGpa, 1, Next, 1);
        q.Driver.WriteDescriptor(1, q.DataGpa, 1, Next, 0);
        Ring(q, 0);
    });

    [Fact]
    public void Loop_of_zero_length_descriptors() => AssertBreaks("Looped descriptor chain", q =>
    {
        for (ushort i = 0; i < N; i++) q.Driver.WriteDescriptor(i, 0, 0, Next, (ushort)((i + 1) % N));
        Ring(q, 0);
    });

    [Fact]
    public void Loop_inside_an_indirect_table() => AssertBreaks("more than 3 descriptors", q =>
    {
        Table(q, q.IndirectGpa, new Descriptor(q.DataGpa, 1, Next, 1), new Descriptor(q.DataGpa, 1, Next, 2), new Descriptor(q.DataGpa, 1, Next, 1));
        q.Driver.WriteDescriptor(0, q.IndirectGpa, 48, Indirect, 0);
        Ring(q, 0);
    });

    [Fact]
    public void Buffer_past_the_end_of_memory() => AssertBreaks("outside guest memory", q =>
    {
        q.Driver.WriteDescriptor(0, TestMemory.Gpa + 2 * QueuePair.Span - 8, 16, 0, 0);
        Ring(q, 0);
    });

    [Fact]
    public void Buffer_whose_end_overflows() => AssertBreaks("outside guest memory", q =>
    {
        q.Driver.WriteDescriptor(0, ulong.MaxValue - 1, 4, Write, 0);
        Ring(q, 0);
    });

    [Fact]
    public void Buffer_below_memory() => AssertBreaks("GPA 0x0 ", q =>
    {
        q.Driver.WriteDescriptor(0, 0, 1, 0, 0);
        Ring(q, 0);
    });

    [Fact]
    public void Chain_longer_than_4_GiB() => AssertBreaks("longer than 2^32 - 1 bytes", q =>
    {
        q.Driver.WriteDescriptor(0, q.DataGpa, 16, Next, 1);
        q.Driver.WriteDescriptor(1, q.DataGpa, uint.MaxValue, Write, 0);
        Ring(q, 0);
    });

    [Fact]
    public void Readable_after_writable() => AssertBreaks("Incorrect order for descriptors", q =>
    {
        q.Driver.WriteDescriptor(0, q.DataGpa, 4, Write | Next, 1);
        q.Driver.WriteDescriptor(1, q.DataGpa + 4, 4, 0, 0);
        Ring(q, 0);
    });

    [Fact]
    public void Readable_in_an_indirect_table_after_a_direct_writable() => AssertBreaks("Incorrect order for descriptors", q =>
    {
        Table(q, q.IndirectGpa, new Descriptor(q.DataGpa, 1, 0, 0));
        q.Driver.WriteDescriptor(0, q.DataGpa + 8, 4, Write | Next, 1);
        q.Driver.WriteDescriptor(1, q.IndirectGpa, 16, Indirect, 0);
        Ring(q, 0);
    });

    [Fact]
    public void Indirect_without_the_feature() => AssertBreaks("VIRTIO_F_INDIRECT_DESC was not negotiated", q =>
    {
        Table(q, q.IndirectGpa, new Descriptor(q.DataGpa, 1, 0, 0));
        q.Driver.WriteDescriptor(0, q.IndirectGpa, 16, Indirect, 0);
        Ring(q, 0);
    }, indirectNegotiated: false);

    [Fact]
    public void Nested_indirect() => AssertBreaks("Nested indirect descriptor", q =>
    {
        Table(q, q.IndirectGpa, new Descriptor(q.IndirectGpa + 0x100, 16, Indirect, 0));
        q.Driver.WriteDescriptor(0, q.IndirectGpa, 16, Indirect, 0);
        Ring(q, 0);
    });

    [Fact]
    public void Indirect_with_next() => AssertBreaks("both INDIRECT and NEXT", q =>
    {
        Table(q, q.IndirectGpa, new Descriptor(q.DataGpa, 1, 0, 0));
        q.Driver.WriteDescriptor(0, q.IndirectGpa, 16, Indirect | Next, 1);
        q.Driver.WriteDescriptor(1, q.DataGpa, 1, Write, 0);
        Ring(q, 0);
    });

    [Theory]
    [InlineData(0u)]
    [InlineData(8u)]
    [InlineData(24u)]
    [InlineData(17u)]
    public void Indirect_table_size_not_a_non_zero_multiple_of_16(uint length) => AssertBreaks("Invalid size for indirect buffer table", q =>
    {
        q.Driver.WriteDescriptor(0, q.IndirectGpa, length, Indirect, 0);
        Ring(q, 0);
    });

    [Fact]
    public void Indirect_table_over_1024_entries() => AssertBreaks("1025 entries, more than the limit of 1024", q =>
    {
        q.Driver.WriteDescriptor(0, q.IndirectGpa, 1025 * 16, Indirect, 0);
        Ring(q, 0);
    });

    [Fact]
    public void Indirect_table_outside_memory() => AssertBreaks("Indirect table of descriptor 0 at GPA 0xfffffffffffffff0", q =>
    {
        q.Driver.WriteDescriptor(0, ulong.MaxValue - 15, 32, Indirect, 0);
        Ring(q, 0);
    });

    [Fact]
    public void Indirect_next_not_below_the_table_size() => AssertBreaks("has next 2, not below the table size 2", q =>
    {
        Table(q, q.IndirectGpa, new Descriptor(q.DataGpa, 1, Next, 1), new Descriptor(q.DataGpa, 1, Next, 2), new Descriptor(q.DataGpa, 1, 0, 0));
        q.Driver.WriteDescriptor(0, q.IndirectGpa, 32, Indirect, 0);
        Ring(q, 0);
    });

    [Fact]
    public void Indirect_buffer_outside_memory() => AssertBreaks("of the indirect table buffer at GPA", q =>
    {
        Table(q, q.IndirectGpa, new Descriptor(q.DataGpa, 1, Next, 1), new Descriptor(ulong.MaxValue - 2, 8, Write, 0));
        q.Driver.WriteDescriptor(0, q.IndirectGpa, 32, Indirect, 0);
        Ring(q, 0);
    });

    [Fact]
    public void A_valid_chain_after_a_broken_one_is_not_served()
    {
        using var q = new QueuePair(N);
        q.Driver.WriteDescriptor(0, q.DataGpa, 1, Next, 0);
        q.Driver.WriteDescriptor(1, q.DataGpa, 1, 0, 0);
        Ring(q, 0, 1);
        Assert.Equal(PopResult.Broken, q.Device.TryPop(out _));
        Assert.Equal(PopResult.Broken, q.Device.TryPop(out _));
        Assert.False(q.Device.EnableNotification());
    }

    [Fact]
    public void The_indirect_table_is_copied_once_so_later_guest_changes_do_not_reach_the_reader()
    {
        using var q = new QueuePair(N);
        q.Write(q.DataGpa, [1, 2, 3, 4]);
        Table(q, q.IndirectGpa, new Descriptor(q.DataGpa, 4, 0, 0));
        q.Driver.WriteDescriptor(0, q.IndirectGpa, 16, Indirect, 0);
        Ring(q, 0);
        var chain = q.PopChain();
        // The guest now points the entry at memory that does not exist.
        Table(q, q.IndirectGpa, new Descriptor(ulong.MaxValue - 1, 4096, 0, 0));
        q.Driver.WriteDescriptor(0, ulong.MaxValue - 1, 4096, 0, 0);
        var got = new byte[8];
        Assert.Equal(4, q.Device.GetReader(chain).Read(got));
        Assert.Equal([1, 2, 3, 4], got[..4]);
    }
}
