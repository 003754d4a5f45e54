using VhostDeviceCan.Can;
using VhostDeviceCan.VirtioCanWire;
using VhostDeviceCan.Interop;
using VhostDeviceCan.Virtqueue;

namespace VhostDeviceCan.Fuzz;

/// <summary>
/// The split-queue chain walk over a guest memory map and ring contents taken from the input:
/// every chain is popped, read, decoded as a Txq request, written and completed, and what the queue
/// reports is checked against what was read and written.
/// </summary>
/// <remarks>
/// Input layout (little-endian; missing bytes read as zero):
/// <code>
/// u8  flags      bit 0 INDIRECT_DESC, bit 1 EVENT_IDX, bits 2-3 regions - 1, bits 4-7 CAN feature bits 0-3
/// u8  size       below 16: queue size 1 &lt;&lt; size; otherwise taken as it is (refused unless a power of two)
/// u16 last_avail
/// per region:    u64 gpa, u32 size, u32 offset into the guest RAM file
/// u32 desc, u32 avail, u32 used   ring addresses: region index in bits 30-31, offset in the region's UVA range below
/// ...            the guest RAM file's contents (the rest of it is zero)
/// </code>
/// Regions are mapped from one memfd created once, so regions may alias each other, as two
/// mappings of the same file can; each region's UVA range is its own.
/// </remarks>
internal sealed class ChainWalkTarget : IFuzzTarget, IDisposable
{
    public const int RamFileSize = 64 * 1024;
    public const ushort MaxQueueSize = 256;
    private const int MaxReadPerChain = 16 * 1024;

    private readonly FileDescriptor _ram = MemFd.Create("fuzz-guest-ram", RamFileSize);
    private readonly MemoryMapping _ramView;
    private readonly SplitQueue _queue = new(MaxQueueSize);
    private readonly byte[] _scratch = new byte[4096];

    public ChainWalkTarget() => _ramView = MemoryMapping.Map(_ram, RamFileSize, 0);

    public string Name => "chain-walk";

    /// <summary>Chains the last input popped, and why its queue broke (null if it did not), so
    /// tests can check that a seed reaches the walk.</summary>
    public int LastChainCount { get; private set; }
    public string? LastBrokenReason { get; private set; }

    public static ulong UserAddressOf(int region) => (ulong)(region + 1) << 44;

    public void Run(ReadOnlySpan<byte> data)
    {
        LastChainCount = 0;
        LastBrokenReason = null;
        var input = new FuzzInput(data);
        byte flags = input.U8();
        byte sizeField = input.U8();
        ushort lastAvail = input.U16();
        int regionCount = ((flags >> 2) & 3) + 1;
        Span<(ulong Gpa, uint Size, uint Offset)> layout = stackalloc (ulong, uint, uint)[regionCount];
        for (int i = 0; i < regionCount; i++) layout[i] = (input.U64(), input.U32(), input.U32());
        uint desc = input.U32(), avail = input.U32(), used = input.U32();
        FillRam(input.Rest);

        // The back-end refuses a region reaching past its file (touching it would raise SIGBUS).
        // Checked before anything is mapped: a mapping left behind by an early return would leak
        // on every such input until the process runs out of mappings.
        foreach (var (_, size, offset) in layout)
            if (offset > RamFileSize || size > RamFileSize - offset) return;

        var regions = new List<GuestMemoryRegion>(regionCount);
        GuestMemory memory;
        try
        {
            for (int i = 0; i < regionCount; i++)
            {
                var (gpa, size, offset) = layout[i];
                regions.Add(GuestMemoryRegion.Map(_ram, gpa, size, UserAddressOf(i), offset));
            }
            memory = new GuestMemory(regions);
        }
        catch (ArgumentException)
        {
            // Empty, wrapping or overlapping regions: refused before any queue sees them.
            foreach (var region in regions) region.Dispose();
            return;
        }

        using (memory)
        {
            _queue.Reset();
            _queue.IndirectDescriptors = (flags & 1) != 0;
            _queue.EventIdx = (flags & 2) != 0;
            if (!_queue.TrySetSize(sizeField < 16 ? 1u << sizeField : sizeField)) return;
            if (!_queue.TrySetAddresses(memory, Ring(desc, regionCount), Ring(avail, regionCount), Ring(used, regionCount), out _)) return;
            _queue.SyncUsedIndexFromMemory();
            _queue.NextAvailable = lastAvail;
            Walk(memory, (ulong)(flags >> 4));
        }
    }

    private void Walk(GuestMemory memory, ulong canFeatures)
    {
        for (int pops = 0; pops <= _queue.Size; pops++)
        {
            PopResult result = _queue.TryPop(out DescriptorChain chain);
            if (result == PopResult.Empty) break;
            if (result == PopResult.Broken)
            {
                FuzzFindingException.Check(_queue.IsBroken && _queue.TryPop(out _) == PopResult.Broken, "a broken queue must stay broken");
                LastBrokenReason = _queue.BrokenReason;
                return;
            }
            LastChainCount++;
            FuzzFindingException.Check(chain.Head < _queue.Size, $"head {chain.Head} is not below the queue size {_queue.Size}");
            if (chain.WritableLength != 0)
                FuzzFindingException.Check(memory.IsValidRange(chain.FirstWritableAddress, 1), $"first writable byte at 0x{chain.FirstWritableAddress:x} is not mapped");

            ReadAll(chain);
            DecodeAsTxRequest(chain, canFeatures);
            uint written = WriteAll(chain);
            _queue.AddUsed(chain.Head, written);
        }
        _queue.PublishUsed();
        _queue.EnableNotification();
        _queue.DisableNotification();
    }

    private void ReadAll(in DescriptorChain chain)
    {
        var reader = _queue.GetReader(chain);
        long total = 0;
        while (total < MaxReadPerChain)
        {
            int n = reader.Read(_scratch);
            if (n == 0) break;
            total += n;
        }
        total += reader.Skip(uint.MaxValue);
        FuzzFindingException.Check(total == chain.ReadableLength && reader.Remaining == 0,
            $"read {total} of {chain.ReadableLength} readable bytes, {reader.Remaining} remaining");
    }

    private void DecodeAsTxRequest(in DescriptorChain chain, ulong canFeatures)
    {
        var reader = _queue.GetReader(chain);
        Span<byte> request = _scratch.AsSpan(0, VirtioCan.MaxTxRequestLength);
        int length = reader.Read(request);
        TxRequestTarget.DecodeAndCheck(request[..length], canFeatures);
    }

    private uint WriteAll(in DescriptorChain chain)
    {
        var writer = _queue.GetWriter(chain);
        _scratch.AsSpan(0, 64).Fill(0x5A);
        int n = writer.Write(_scratch.AsSpan(0, 64));
        FuzzFindingException.Check(n == Math.Min(64, chain.WritableLength), $"wrote {n} bytes into a chain with {chain.WritableLength} writable");
        writer.Skip(uint.MaxValue);
        FuzzFindingException.Check(writer.Written == chain.WritableLength && writer.Remaining == 0,
            $"writer covered {writer.Written} of {chain.WritableLength} writable bytes");
        return writer.Written;
    }

    private static ulong Ring(uint address, int regionCount) =>
        UserAddressOf((int)(address >> 30) % regionCount) + (address & 0x3FFF_FFFF);

    private unsafe void FillRam(ReadOnlySpan<byte> contents)
    {
        int length = Math.Min(contents.Length, RamFileSize);
        // SAFETY: the view maps the whole RamFileSize-byte file, and length is clamped to it.
        var ram = new Span<byte>((void*)_ramView.Address, RamFileSize);
        // Cleared whole: the previous input's device writes may be anywhere in it.
        ram.Clear();
        contents[..length].CopyTo(ram);
    }

    public void Dispose()
    {
        _ramView.Dispose();
        _ram.Dispose();
    }
}
