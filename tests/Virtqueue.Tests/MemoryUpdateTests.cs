using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Virtqueue.Tests;

public class MemoryUpdateTests
{
    private const ulong Gpa = TestMemory.Gpa;

    [Fact]
    public void WithRegion_moves_ownership_so_disposing_the_old_set_keeps_the_new_one_mapped()
    {
        using var fd = MemFd.Create("guest", 0x2000);
        var first = GuestMemory.Empty.WithRegion(GuestMemoryRegion.Map(fd, Gpa, 0x1000, TestMemory.Uva, 0));
        var second = first.WithRegion(GuestMemoryRegion.Map(fd, Gpa + 0x1000, 0x1000, TestMemory.Uva + 0x1000, 0x1000));
        Assert.True(first.TryWrite(Gpa, [7])); // the old set stays a valid view until it is disposed
        first.Dispose();

        Assert.Equal(2, second.Regions.Count);
        Assert.True(second.TryWrite(Gpa + 0xFFF, [1, 2]));
        var back = new byte[1];
        Assert.True(second.TryRead(Gpa, back));
        Assert.Equal(7, back[0]);
        Assert.Throws<InvalidOperationException>(() => first.WithRegion(second.Regions[0]));
        second.Dispose();
    }

    [Fact]
    public void WithRegion_refuses_an_overlap_and_moves_nothing()
    {
        using var fd = MemFd.Create("guest", 0x2000);
        using var memory = TestMemory.Single(0x1000);
        using var overlapping = GuestMemoryRegion.Map(fd, Gpa + 0x800, 0x1000, 0, 0);
        Assert.Throws<ArgumentException>(() => memory.WithRegion(overlapping));
        using var next = memory.WithRegion(GuestMemoryRegion.Map(fd, Gpa + 0x1000, 0x1000, 0x5000, 0));
        Assert.Equal(2, next.Regions.Count);
    }

    [Fact]
    public void WithoutRegion_hands_the_removed_region_to_the_caller()
    {
        using var fd = MemFd.Create("guest", 0x2000);
        var memory = new GuestMemory([
            GuestMemoryRegion.Map(fd, Gpa, 0x1000, TestMemory.Uva, 0),
            GuestMemoryRegion.Map(fd, Gpa + 0x1000, 0x1000, TestMemory.Uva + 0x1000, 0x1000),
        ]);
        Assert.Throws<ArgumentException>(() => memory.WithoutRegion(Gpa, 0x1000, 0xBAD, out _));

        var next = memory.WithoutRegion(Gpa + 0x1000, 0x1000, TestMemory.Uva + 0x1000, out var removed);
        Assert.NotNull(removed);
        Assert.False(next.IsValidRange(Gpa + 0x1000, 1));
        Assert.True(memory.IsValidRange(Gpa + 0x1000, 1)); // queues still on the old set keep working

        memory.Dispose();
        removed.Dispose();
        Assert.True(next.TryWrite(Gpa, [1]));
        next.Dispose();
    }
}
