using FsCheck.Xunit;

namespace VhostDeviceCan.Virtqueue.Tests;

/// <summary>
/// Random sequences of driver and device operations, read from a byte program so FsCheck can shrink a
/// failure to the shortest program: both halves must agree on every chain, length and free count.
/// </summary>
public class OperationSequenceProperties
{
    private const ushort N = 8;

    private sealed record Chain(ushort Head, uint Readable, uint Writable, int Descriptors);

    [Property(MaxTest = 300)]
    public void Random_operation_sequences_keep_driver_and_device_consistent(byte[] program, bool eventIdx, bool indirect)
    {
        using var q = new QueuePair(N, eventIdx);
        var added = new Queue<Chain>();      // added by the driver, not yet published
        var published = new Queue<Chain>();  // visible to the device, not yet popped
        var popped = new Queue<Chain>();     // popped, not yet completed
        var completed = new Queue<Chain>();  // in the used ring, published or not
        int unpublishedUsed = 0;
        var buffers = new DriverBuffer[6];

        foreach (byte op in program ?? [])
        {
            switch (op % 8)
            {
                case 0:
                {
                    int readers = (op >> 3) & 3, writers = (op >> 5) & 3;
                    if (readers + writers == 0) readers = 1;
                    uint readable = 0, writable = 0;
                    int count = 0;
                    for (int i = 0; i < readers + writers; i++)
                    {
                        uint length = (uint)((op * 7 + i * 13) % 50);
                        bool w = i >= readers;
                        buffers[count++] = new DriverBuffer(q.DataGpa + (ulong)i * 64, length, w);
                        if (w) writable += length; else readable += length;
                    }
                    bool useIndirect = indirect && count > 1;
                    int needed = useIndirect ? 1 : count;
                    bool fits = q.Driver.FreeDescriptors >= needed;
                    Assert.Equal(fits, q.Driver.TryAddChain(buffers.AsSpan(0, count), useIndirect, out ushort head));
                    if (fits) added.Enqueue(new Chain(head, readable, writable, needed));
                    break;
                }
                case 1:
                    q.Driver.PublishAvailable();
                    while (added.Count > 0) published.Enqueue(added.Dequeue());
                    break;
                case 2:
                {
                    var result = q.Device.TryPop(out var chain);
                    Assert.Equal(published.Count > 0 ? PopResult.Chain : PopResult.Empty, result);
                    if (result == PopResult.Chain)
                    {
                        var expected = published.Dequeue();
                        Assert.Equal((expected.Head, expected.Readable, expected.Writable), (chain.Head, chain.ReadableLength, chain.WritableLength));
                        popped.Enqueue(expected);
                    }
                    break;
                }
                case 3:
                    if (popped.Count > 0)
                    {
                        var c = popped.Dequeue();
                        q.Device.AddUsed(c.Head, c.Writable);
                        completed.Enqueue(c);
                        unpublishedUsed++;
                    }
                    break;
                case 4:
                    q.Device.PublishUsed();
                    unpublishedUsed = 0;
                    break;
                case 5:
                    while (q.Driver.TryTakeUsed(out ushort head, out uint length))
                    {
                        var c = completed.Dequeue();
                        Assert.Equal((c.Head, c.Writable), (head, length));
                    }
                    Assert.Equal(unpublishedUsed, completed.Count);
                    break;
                case 6:
                    Assert.Equal(published.Count > 0, q.Device.EnableNotification());
                    break;
                case 7:
                    q.Device.DisableNotification();
                    q.Driver.NeedsKick();
                    break;
            }
            int held = added.Sum(c => c.Descriptors) + published.Sum(c => c.Descriptors)
                + popped.Sum(c => c.Descriptors) + completed.Sum(c => c.Descriptors);
            Assert.Equal(N - held, q.Driver.FreeDescriptors);
            Assert.False(q.Device.IsBroken, q.Device.BrokenReason);
        }

        // Drain everything: the ring must come back whole.
        while (popped.Count > 0)
        {
            var c = popped.Dequeue();
            q.Device.AddUsed(c.Head, c.Writable);
        }
        q.Driver.PublishAvailable();
        while (q.Device.TryPop(out var chain) == PopResult.Chain) q.Device.AddUsed(chain.Head, chain.WritableLength);
        q.Device.PublishUsed();
        while (q.Driver.TryTakeUsed(out _, out _)) { }
        Assert.Equal(N, q.Driver.FreeDescriptors);
        Assert.False(q.Device.IsBroken, q.Device.BrokenReason);
    }
}
