namespace VhostDeviceCan.Virtqueue.Tests;

public class ChainWalkTests
{
    [Fact]
    public void A_single_readable_buffer_is_read_and_returned()
    {
        using var q = new QueuePair(8);
        var data = TestMemory.Pattern(100, 1);
        q.Write(q.DataGpa, data);
        ushort head = q.Offer(new DriverBuffer(q.DataGpa, 100, false));

        var chain = q.PopChain();
        Assert.Equal(head, chain.Head);
        Assert.Equal(100u, chain.ReadableLength);
        Assert.Equal(0u, chain.WritableLength);
        Assert.Equal(0ul, chain.FirstWritableAddress);
        var reader = q.Device.GetReader(chain);
        var got = new byte[150];
        Assert.Equal(100, reader.Read(got));
        Assert.Equal(data, got[..100]);
        Assert.Equal(0u, reader.Remaining);
        Assert.Equal(PopResult.Empty, q.Device.TryPop(out _));

        q.Device.AddUsed(chain.Head, 0);
        Assert.True(q.Device.PublishUsed());
        Assert.True(q.Driver.TryTakeUsed(out ushort usedHead, out uint length));
        Assert.Equal((head, 0u), (usedHead, length));
        Assert.Equal(8, q.Driver.FreeDescriptors);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Multi_descriptor_chains_gather_and_scatter_across_buffers(bool indirect)
    {
        using var q = new QueuePair(16);
        ulong d = q.DataGpa;
        q.Write(d, TestMemory.Pattern(10, 2));
        q.Write(d + 0x100, TestMemory.Pattern(7, 3));
        ushort head = q.Offer(indirect,
            new DriverBuffer(d, 10, false), new DriverBuffer(d + 0x100, 7, false),
            new DriverBuffer(d + 0x200, 3, true), new DriverBuffer(d + 0x300, 9, true));
        Assert.Equal(indirect ? 15 : 12, q.Driver.FreeDescriptors);

        var chain = q.PopChain();
        Assert.Equal((17u, 12u, d + 0x200), (chain.ReadableLength, chain.WritableLength, chain.FirstWritableAddress));

        var reader = q.Device.GetReader(chain);
        Assert.Equal(3u, reader.Skip(3));
        var rest = new byte[20];
        Assert.Equal(14, reader.Read(rest));
        Assert.Equal([.. TestMemory.Pattern(10, 2)[3..], .. TestMemory.Pattern(7, 3)], rest[..14]);

        var writer = q.Device.GetWriter(chain);
        Assert.Equal(12, writer.Write(Enumerable.Range(1, 20).Select(i => (byte)i).ToArray()));
        Assert.Equal(12u, writer.Written);
        Assert.Equal([1, 2, 3], q.Read(d + 0x200, 3));
        Assert.Equal([4, 5, 6, 7, 8, 9, 10, 11, 12, 0], q.Read(d + 0x300, 10)); // nothing past the buffer
        Assert.Equal(TestMemory.Pattern(10, 2), q.Read(d, 10)); // readable buffers untouched

        q.Device.AddUsed(chain.Head, writer.Written);
        q.Device.PublishUsed();
        Assert.True(q.Driver.TryTakeUsed(out ushort usedHead, out uint length));
        Assert.Equal((head, 12u), (usedHead, length));
        Assert.Equal(16, q.Driver.FreeDescriptors);
    }

    [Fact]
    public void Direct_descriptors_followed_by_one_indirect_descriptor_form_one_chain()
    {
        using var q = new QueuePair(8);
        ulong d = q.DataGpa, table = q.IndirectGpa;
        q.Write(d, TestMemory.Pattern(4, 4));
        q.Write(d + 0x10, TestMemory.Pattern(5, 5));
        q.Driver.WriteDescriptor(0, d, 4, Descriptor.FlagNext, 3);
        // WRITE on the pointing descriptor is ignored (docs/spec/virtqueue.md §2).
        q.Driver.WriteDescriptor(3, table, 32, Descriptor.FlagIndirect | Descriptor.FlagWrite, 0);
        Span<byte> entries = stackalloc byte[32];
        new Descriptor(d + 0x10, 5, Descriptor.FlagNext, 1).Write(entries);
        new Descriptor(d + 0x20, 6, Descriptor.FlagWrite, 0).Write(entries[16..]);
        q.Write(table, entries);
        q.Driver.WriteAvailableRaw(0, 0);
        q.Driver.SetAvailableIndexRaw(1);

        var chain = q.PopChain();
        Assert.Equal((0, 9u, 6u, d + 0x20), (chain.Head, chain.ReadableLength, chain.WritableLength, chain.FirstWritableAddress));
        var all = new byte[9];
        Assert.Equal(9, q.Device.GetReader(chain).Read(all));
        Assert.Equal([.. TestMemory.Pattern(4, 4), .. TestMemory.Pattern(5, 5)], all);
    }

    [Fact]
    public void Zero_length_descriptors_are_empty_buffers_not_the_end_of_the_chain()
    {
        using var q = new QueuePair(8);
        ulong d = q.DataGpa;
        q.Write(d, [1, 2, 3]);
        q.Offer(
            new DriverBuffer(0xDEAD_0000_0000, 0, false), // an empty buffer's address is never used
            new DriverBuffer(d, 3, false),
            new DriverBuffer(d + 0x40, 0, true),
            new DriverBuffer(d + 0x80, 2, true),
            new DriverBuffer(0, 0, true));

        var chain = q.PopChain();
        Assert.Equal((3u, 2u, d + 0x80), (chain.ReadableLength, chain.WritableLength, chain.FirstWritableAddress));
        var got = new byte[3];
        Assert.Equal(3, q.Device.GetReader(chain).Read(got));
        Assert.Equal([1, 2, 3], got);
        var writer = q.Device.GetWriter(chain);
        Assert.Equal(2, writer.Write([9, 9, 9]));
        Assert.Equal([9, 9], q.Read(d + 0x80, 2));
    }

    [Fact]
    public void A_chain_of_only_zero_length_descriptors_is_valid()
    {
        using var q = new QueuePair(4);
        q.Offer(new DriverBuffer(0, 0, false), new DriverBuffer(0, 0, true));
        var chain = q.PopChain();
        Assert.Equal((0u, 0u, 0ul), (chain.ReadableLength, chain.WritableLength, chain.FirstWritableAddress));
        Assert.Equal(0, q.Device.GetReader(chain).Read(new byte[4]));
        Assert.Equal(0, q.Device.GetWriter(chain).Write([1]));
    }

    [Fact]
    public void Buffers_and_indirect_tables_may_span_two_contiguous_regions()
    {
        // Region A is 1 MiB (holds the rings), region B follows it in GPA but comes from file offset 0.
        using var memory = TestMemory.TwoContiguous(QueuePair.Span, 0x10000, 0x20000, 0);
        using var q = new QueuePair(8, memory: memory);
        ulong boundary = TestMemory.Gpa + QueuePair.Span;
        var data = TestMemory.Pattern(64, 6);
        q.Write(boundary - 32, data);
        q.Offer(new DriverBuffer(boundary - 32, 64, false), new DriverBuffer(boundary - 8, 16, true));

        var chain = q.PopChain();
        var got = new byte[64];
        Assert.Equal(64, q.Device.GetReader(chain).Read(got));
        Assert.Equal(data, got);
        var writer = q.Device.GetWriter(chain);
        Assert.Equal(16, writer.Write(Enumerable.Repeat((byte)0x77, 16).ToArray()));
        Assert.Equal(Enumerable.Repeat((byte)0x77, 16).ToArray(), q.Read(boundary - 8, 16));

        // An indirect table straddling the boundary.
        Span<byte> entries = stackalloc byte[32];
        new Descriptor(q.DataGpa, 5, Descriptor.FlagNext, 1).Write(entries);
        new Descriptor(q.DataGpa + 0x10, 3, Descriptor.FlagWrite, 0).Write(entries[16..]);
        q.Write(boundary - 16, entries);
        q.Driver.WriteDescriptor(5, boundary - 16, 32, Descriptor.FlagIndirect, 0);
        q.Driver.WriteAvailableRaw(1, 5);
        q.Driver.SetAvailableIndexRaw(2);
        var indirect = q.PopChain();
        Assert.Equal((5, 5u, 3u, q.DataGpa + 0x10), (indirect.Head, indirect.ReadableLength, indirect.WritableLength, indirect.FirstWritableAddress));
    }

    [Fact]
    public void Readers_exist_only_for_the_chain_popped_last()
    {
        using var q = new QueuePair(8);
        q.Offer(new DriverBuffer(q.DataGpa, 1, false));
        q.Offer(new DriverBuffer(q.DataGpa, 1, false));
        var first = q.PopChain();
        var second = q.PopChain();
        Assert.Throws<InvalidOperationException>(() => q.Device.GetReader(first));
        q.Device.GetReader(second);
        Assert.Equal(PopResult.Empty, q.Device.TryPop(out _));
        Assert.Throws<InvalidOperationException>(() => q.Device.GetWriter(second));
    }

    [Fact]
    public void The_kept_first_writable_address_allows_a_late_status_write()
    {
        using var q = new QueuePair(8);
        ushort head = q.Offer(new DriverBuffer(q.DataGpa, 4, false), new DriverBuffer(q.DataGpa + 0x20, 1, true));
        var chain = q.PopChain();
        q.Offer(new DriverBuffer(q.DataGpa + 0x40, 4, false));
        q.PopChain(); // the first chain's reader is gone, its address is not
        Assert.True(q.Memory.TryWrite(chain.FirstWritableAddress, [0x01]));
        q.Device.AddUsed(chain.Head, 1);
        q.Device.PublishUsed();
        Assert.True(q.Driver.TryTakeUsed(out ushort usedHead, out uint length));
        Assert.Equal((head, 1u), (usedHead, length));
        Assert.Equal([0x01], q.Read(q.DataGpa + 0x20, 1));
    }
}
