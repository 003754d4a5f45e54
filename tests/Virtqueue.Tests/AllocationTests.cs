namespace VhostDeviceCan.Virtqueue.Tests;

public class AllocationTests
{
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void Popping_and_completing_chains_allocates_nothing(bool eventIdx, bool indirect)
    {
        using var q = new QueuePair(64, eventIdx);
        q.Write(q.DataGpa, TestMemory.Pattern(64, 1));

        Run(q, 2_000, indirect); // warm up: tiered JIT and lazy statics allocate once
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(q, 10_000, indirect);
        long after = GC.GetAllocatedBytesForCurrentThread();

        Assert.Equal(before, after);
    }

    private static void Run(QueuePair q, int chains, bool indirect)
    {
        Span<DriverBuffer> buffers =
        [
            new DriverBuffer(q.DataGpa, 24, false),
            new DriverBuffer(q.DataGpa + 24, 40, false),
            new DriverBuffer(q.DataGpa + 0x100, 16, true),
        ];
        Span<byte> scratch = stackalloc byte[64];
        for (int i = 0; i < chains; i++)
        {
            q.Driver.AddChain(buffers, indirect);
            q.Driver.PublishAvailable();
            q.Driver.NeedsKick();
            if (q.Device.TryPop(out var chain) != PopResult.Chain) throw new InvalidOperationException(q.Device.BrokenReason);
            var reader = q.Device.GetReader(chain);
            reader.Read(scratch);
            var writer = q.Device.GetWriter(chain);
            writer.Write(scratch[..16]);
            q.Device.AddUsed(chain.Head, writer.Written);
            q.Device.PublishUsed();
            q.Device.EnableNotification();
            if (!q.Driver.TryTakeUsed(out _, out _)) throw new InvalidOperationException("no used element");
        }
    }
}
