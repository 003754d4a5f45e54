namespace VhostDeviceCan.Virtqueue.Tests;

/// <summary>Ring configuration checks (docs/spec/virtqueue.md §7.1) and memory-table changes.</summary>
public class QueueConfigurationTests
{
    private const ulong Uva = TestMemory.Uva;

    [Theory]
    [InlineData(0u, false)]
    [InlineData(1u, true)]
    [InlineData(3u, false)]
    [InlineData(64u, true)]
    [InlineData(256u, true)]
    [InlineData(512u, false)] // above the device's maximum
    public void Size_must_be_a_power_of_two_up_to_the_maximum(uint size, bool ok)
    {
        var queue = new SplitQueue(256);
        Assert.Equal(ok, queue.TrySetSize(size));
        Assert.Equal(ok ? size : 256u, queue.Size);
    }

    [Theory]
    [InlineData(0x8UL, 0x1000UL, 0x2000UL, "descriptor table at UVA 0x7f0000000008 is not 16-byte aligned")]
    [InlineData(0x0UL, 0x1001UL, 0x2000UL, "available ring at UVA 0x7f0000001001 is not 2-byte aligned")]
    [InlineData(0x0UL, 0x1000UL, 0x2002UL, "used ring at UVA 0x7f0000002002 is not 4-byte aligned")]
    [InlineData(0xFF80UL, 0x1000UL, 0x2000UL, "descriptor table at UVA 0x7f000000ff80 (0x100 bytes) is not inside")] // 16·16 > 0x80 left
    [InlineData(0x0UL, 0xFFE0UL, 0x2000UL, "available ring")] // 6 + 2·16 = 38 > 0x20 left
    [InlineData(0x0UL, 0x1000UL, 0xFF80UL, "used ring")]      // 6 + 8·16 = 134 > 0x80 left
    [InlineData(0x0UL, 0x1000UL, 0x1_0000UL, "used ring")]
    public void Ring_areas_must_be_aligned_and_entirely_mapped(ulong desc, ulong avail, ulong used, string error)
    {
        using var memory = TestMemory.Single(0x10000);
        var queue = new SplitQueue(16);
        Assert.False(queue.TrySetAddresses(memory, Uva + desc, Uva + avail, Uva + used, out string? message));
        Assert.Contains(error, message, StringComparison.Ordinal);
        Assert.False(queue.IsReady);
        Assert.Equal(PopResult.Empty, queue.TryPop(out _));
        Assert.False(queue.PublishUsed());
    }

    [Fact]
    public void Ring_areas_ending_exactly_at_the_region_end_are_accepted()
    {
        using var memory = TestMemory.Single(0x10000);
        var queue = new SplitQueue(16);
        Assert.True(queue.TrySetAddresses(memory, Uva + 0x10000 - 256, Uva + 0x10000 - 256 - 38 - 2, Uva + 0x8000 - 134 - 2, out string? error), error);
        Assert.True(queue.IsReady);
    }

    [Fact]
    public void Shrinking_the_memory_table_under_the_rings_makes_the_queue_not_ready()
    {
        using var q = new QueuePair(8);
        using var small = TestMemory.Single(0x1000);
        Assert.False(q.Device.TryRemap(small));
        Assert.False(q.Device.IsReady);
        Assert.Equal(PopResult.Empty, q.Device.TryPop(out _));
        Assert.True(q.Device.TryRemap(q.Memory));
        Assert.True(q.Device.IsReady);
    }

    [Fact]
    public void Remapping_to_a_new_table_with_the_same_memory_keeps_the_ring_running()
    {
        using var fd = VhostDeviceCan.Interop.MemFd.Create("guest", (long)QueuePair.Span);
        var first = new GuestMemory([GuestMemoryRegion.Map(fd, TestMemory.Gpa, QueuePair.Span, Uva, 0)]);
        using var q = new QueuePair(8, memory: first);
        q.Write(q.DataGpa, [5]);
        q.Offer(new DriverBuffer(q.DataGpa, 1, false));

        // A SET_MEM_TABLE with the same RAM, now also at a different UVA.
        var second = new GuestMemory([GuestMemoryRegion.Map(fd, TestMemory.Gpa, QueuePair.Span, Uva + 0x4000_0000, 0)]);
        Assert.False(q.Device.TryRemap(second)); // old UVAs no longer translate
        Assert.True(q.Device.TrySetAddresses(second, Uva + 0x4000_0000, Uva + 0x4001_0000, Uva + 0x4002_0000, out _));
        first.Dispose();

        var chain = q.PopChain();
        var b = new byte[1];
        Assert.Equal(1, q.Device.GetReader(chain).Read(b));
        Assert.Equal(5, b[0]);
        second.Dispose();
    }

    [Fact]
    public void Sync_used_index_starts_at_used_idx_in_guest_memory()
    {
        using var q = new QueuePair(8);
        q.Driver.ResetIndices(1234);
        q.Device.SyncUsedIndexFromMemory();
        Assert.Equal(1234, q.Device.NextUsed);
    }

    [Fact]
    public void Reset_forgets_addresses_indices_and_features()
    {
        using var q = new QueuePair(8, eventIdx: true);
        q.Device.NextAvailable = 7;
        q.Device.Reset();
        Assert.False(q.Device.IsReady);
        Assert.Equal(0, q.Device.NextAvailable);
        Assert.False(q.Device.EventIdx);
        Assert.False(q.Device.IndirectDescriptors);
        Assert.Same(GuestMemory.Empty, q.Device.Memory);
    }
}
