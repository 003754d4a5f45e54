using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Virtqueue.Tests;

public unsafe class GuestMemoryTests
{
    private const ulong Gpa = TestMemory.Gpa;

    [Fact]
    public void Translates_guest_and_user_addresses_to_the_same_bytes()
    {
        using var memory = TestMemory.Single(0x10000);
        Assert.True(memory.TryGetHostPointer(Gpa + 0x100, 16, out nint byGpa));
        Assert.True(memory.TryTranslateUserAddress(TestMemory.Uva + 0x100, 16, out nint byUva));
        Assert.Equal(byGpa, byUva);
        Assert.True(memory.TryWrite(Gpa + 0x100, [1, 2, 3]));
        Assert.Equal(2, *(byte*)(byGpa + 1));
        Assert.True(memory.TryTranslateToUserAddress(Gpa + 0x100, out ulong uva));
        Assert.Equal(TestMemory.Uva + 0x100, uva);
    }

    [Theory]
    [InlineData(0UL, 0x10000UL, true)]          // exactly the region
    [InlineData(0xFFFFUL, 1UL, true)]           // last byte
    [InlineData(0xFFFFUL, 2UL, false)]          // one past the end
    [InlineData(0x10000UL, 1UL, false)]         // first byte after
    [InlineData(0UL, 0x10001UL, false)]
    public void Region_boundaries_are_exact(ulong offset, ulong length, bool expected)
    {
        using var memory = TestMemory.Single(0x10000);
        Assert.Equal(expected, memory.TryGetHostPointer(Gpa + offset, length, out _));
        Assert.Equal(expected, memory.IsValidRange(Gpa + offset, length));
        Assert.Equal(expected, memory.TryTranslateUserAddress(TestMemory.Uva + offset, length, out _));
        Assert.Equal(expected, memory.TryRead(Gpa + offset, new byte[length]));
    }

    [Fact]
    public void Addresses_below_the_region_are_not_mapped()
    {
        using var memory = TestMemory.Single(0x10000);
        Assert.False(memory.IsValidRange(Gpa - 1, 2));
        Assert.False(memory.TryGetHostPointer(Gpa - 1, 1, out _));
        Assert.False(memory.TryTranslateUserAddress(TestMemory.Uva - 1, 1, out _));
        Assert.False(memory.TryTranslateToUserAddress(Gpa - 1, out _));
    }

    [Theory]
    [InlineData(ulong.MaxValue - 1, 2UL)]
    [InlineData(ulong.MaxValue - 1, 4UL)]
    [InlineData(ulong.MaxValue, ulong.MaxValue)]
    [InlineData(Gpa, ulong.MaxValue)]
    [InlineData(Gpa + 0x10, ulong.MaxValue - Gpa)]
    [InlineData(Gpa + 0x10, ulong.MaxValue - Gpa - 0x0F)] // gpa + length == 2^64 exactly
    public void Huge_or_wrapping_ranges_are_rejected(ulong gpa, ulong length)
    {
        using var memory = TestMemory.Single(0x10000);
        Assert.False(memory.IsValidRange(gpa, length));
        Assert.False(memory.TryGetHostPointer(gpa, length, out _));
        Assert.False(memory.TryTranslateUserAddress(gpa, length, out _));
    }

    [Fact]
    public void A_region_ending_at_the_top_of_the_address_space_works_without_wrapping()
    {
        using var memory = TestMemory.Single(0x1000, gpa: ulong.MaxValue - 0xFFF, uva: ulong.MaxValue - 0xFFF);
        Assert.True(memory.IsValidRange(ulong.MaxValue, 1));
        Assert.False(memory.IsValidRange(ulong.MaxValue, 2));
        Assert.True(memory.TryWrite(ulong.MaxValue - 1, [0xAA, 0xBB]));
        Span<byte> two = stackalloc byte[2];
        Assert.True(memory.TryRead(ulong.MaxValue - 1, two));
        Assert.Equal(0xBB, two[1]);
        Assert.False(memory.TryRead(ulong.MaxValue - 1, new byte[3]));
    }

    [Fact]
    public void Map_rejects_ranges_that_wrap()
    {
        using var fd = MemFd.Create("guest", 0x2000);
        Assert.Throws<ArgumentException>(() => GuestMemoryRegion.Map(fd, ulong.MaxValue - 0xFFE, 0x1000, 0, 0));
        Assert.Throws<ArgumentException>(() => GuestMemoryRegion.Map(fd, 0, 0x1000, ulong.MaxValue, 0));
        Assert.Throws<ArgumentException>(() => GuestMemoryRegion.Map(fd, 0, 0x1000, 0, ulong.MaxValue - 0xFFF));
        Assert.Throws<ArgumentException>(() => GuestMemoryRegion.Map(fd, 0, 0, 0, 0));
    }

    [Fact]
    public void Reads_and_writes_cross_two_contiguous_regions_of_one_memfd()
    {
        // Region A is file [0x3000, 0x5000), region B is file [0x0, 0x2000): contiguous in GPA only.
        using var memory = TestMemory.TwoContiguous(0x2000, 0x2000, 0x3000, 0);
        var data = TestMemory.Pattern(0x100, 1);
        ulong start = Gpa + 0x2000 - 0x80;
        Assert.True(memory.IsValidRange(start, 0x100));
        Assert.False(memory.TryGetHostPointer(start, 0x100, out _)); // not inside one region
        Assert.True(memory.TryWrite(start, data));

        var back = new byte[0x100];
        Assert.True(memory.TryRead(start, back));
        Assert.Equal(data, back);

        // The second half really landed at the start of region B (file offset 0).
        Assert.True(memory.TryGetHostPointer(Gpa + 0x2000, 0x80, out nint b));
        Assert.Equal(data.AsSpan(0x80).ToArray(), new ReadOnlySpan<byte>((void*)b, 0x80).ToArray());
        Assert.True(memory.IsValidRange(Gpa, 0x4000));
        Assert.False(memory.IsValidRange(Gpa, 0x4001));
    }

    [Fact]
    public void A_failed_write_across_a_gap_writes_nothing()
    {
        using var fd = MemFd.Create("guest", 0x3000);
        using var memory = new GuestMemory([
            GuestMemoryRegion.Map(fd, Gpa, 0x1000, TestMemory.Uva, 0),
            GuestMemoryRegion.Map(fd, Gpa + 0x2000, 0x1000, TestMemory.Uva + 0x2000, 0x2000),
        ]);
        Assert.False(memory.IsValidRange(Gpa + 0xF00, 0x200));
        Assert.False(memory.TryWrite(Gpa + 0xF00, TestMemory.Pattern(0x1200, 2)));
        var tail = new byte[0x100];
        Assert.True(memory.TryRead(Gpa + 0xF00, tail));
        Assert.All(tail, b => Assert.Equal(0, b));
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(0x123UL)]
    [InlineData(0xFFFUL)]
    [InlineData(0x1001UL)]
    public void Unaligned_mmap_offsets_map_the_right_file_bytes(ulong offset)
    {
        using var fd = MemFd.Create("guest", 0x4000);
        using var whole = MemoryMapping.Map(fd, 0x4000, 0);
        var file = new Span<byte>((void*)whole.Address, 0x4000);
        for (int i = 0; i < file.Length; i++) file[i] = (byte)(i ^ (i >> 8));

        using var memory = new GuestMemory([GuestMemoryRegion.Map(fd, Gpa, 0x2000, TestMemory.Uva, offset)]);
        Assert.Equal(offset, memory.Regions[0].MmapOffset);
        var read = new byte[0x2000];
        Assert.True(memory.TryRead(Gpa, read));
        Assert.Equal(file.Slice((int)offset, 0x2000).ToArray(), read);
    }

    [Fact]
    public void Overlapping_regions_are_rejected()
    {
        using var fd = MemFd.Create("guest", 0x2000);
        using var a = GuestMemoryRegion.Map(fd, Gpa, 0x2000, TestMemory.Uva, 0);
        using var b = GuestMemoryRegion.Map(fd, Gpa + 0x1FFF, 0x1000, TestMemory.Uva + 0x8000, 0);
        Assert.Throws<ArgumentException>(() => new GuestMemory([a, b]));
    }

    [Fact]
    public void Empty_translates_nothing()
    {
        Assert.Empty(GuestMemory.Empty.Regions);
        Assert.False(GuestMemory.Empty.TryGetHostPointer(0, 1, out _));
        Assert.False(GuestMemory.Empty.IsValidRange(0, 1));
        Assert.True(GuestMemory.Empty.IsValidRange(0, 0));
        GuestMemory.Empty.Dispose();
        Assert.False(GuestMemory.Empty.TryRead(0, new byte[1]));
    }

    [Fact]
    public void Disposed_memory_translates_nothing()
    {
        var memory = TestMemory.Single(0x1000);
        memory.Dispose();
        Assert.False(memory.TryGetHostPointer(Gpa, 1, out _));
        Assert.False(memory.TryRead(Gpa, new byte[1]));
        Assert.False(memory.TryTranslateUserAddress(TestMemory.Uva, 1, out _));
    }
}
