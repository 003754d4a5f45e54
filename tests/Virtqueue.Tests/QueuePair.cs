namespace VhostDeviceCan.Virtqueue.Tests;

/// <summary>
/// A driver queue and a device queue over the same guest memory, laid out from <c>baseGpa</c>:
/// descriptors at +0, avail at +0x10000, used at +0x20000, indirect tables at +0x40000 (256 KiB) and
/// data buffers at +0x80000 (512 KiB, one slot per head).
/// </summary>
internal sealed class QueuePair : IDisposable
{
    public const ulong Span = 0x10_0000;
    private readonly bool _ownsMemory;

    public QueuePair(ushort size, bool eventIdx = false, bool indirect = true, GuestMemory? memory = null, ulong baseGpa = TestMemory.Gpa)
    {
        _ownsMemory = memory is null;
        Memory = memory ?? TestMemory.Single(Span);
        BaseGpa = baseGpa;
        Driver = new DriverQueue(Memory, size, baseGpa, baseGpa + 0x10000, baseGpa + 0x20000, baseGpa + 0x40000, 0x40000)
        {
            EventIdx = eventIdx,
        };
        Device = new SplitQueue(size) { EventIdx = eventIdx, IndirectDescriptors = indirect };
        Assert.True(Device.TrySetSize(size));
        Assert.True(Device.TrySetAddresses(Memory, Uva(baseGpa), Uva(baseGpa + 0x10000), Uva(baseGpa + 0x20000), out string? error), error);
        Device.SyncUsedIndexFromMemory();
    }

    public GuestMemory Memory { get; }
    public ulong BaseGpa { get; }
    public DriverQueue Driver { get; }
    public SplitQueue Device { get; }

    public ulong DataGpa => BaseGpa + 0x80000;
    public ulong DataSlotSize => 0x80000UL / Driver.Size;
    public ulong IndirectGpa => BaseGpa + 0x40000;

    public ulong Uva(ulong gpa)
    {
        Assert.True(Memory.TryTranslateToUserAddress(gpa, out ulong uva));
        return uva;
    }

    /// <summary>Adds and publishes a chain whose buffers were placed by the caller.</summary>
    public ushort Offer(params DriverBuffer[] buffers) => Offer(false, buffers);

    public ushort Offer(bool indirect, params DriverBuffer[] buffers)
    {
        ushort head = Driver.AddChain(buffers, indirect);
        Driver.PublishAvailable();
        return head;
    }

    public DescriptorChain PopChain()
    {
        var result = Device.TryPop(out var chain);
        Assert.True(result == PopResult.Chain, $"{result}: {Device.BrokenReason}");
        return chain;
    }

    public void Write(ulong gpa, ReadOnlySpan<byte> data) => Assert.True(Memory.TryWrite(gpa, data));

    public byte[] Read(ulong gpa, int length)
    {
        var data = new byte[length];
        Assert.True(Memory.TryRead(gpa, data));
        return data;
    }

    public void Dispose()
    {
        if (_ownsMemory) Memory.Dispose();
    }
}
