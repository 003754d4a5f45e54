using System.Buffers.Binary;

namespace VhostDeviceCan.Fuzz;

/// <summary>The chain shapes of the Virtqueue unit tests (ChainWalkTests, HostileRingTests), laid out
/// in the <see cref="ChainWalkTarget"/> input format with small offsets so the seeds stay small.</summary>
internal static class ChainWalkSeeds
{
    private const ulong Gpa = 0x1_0000_0000;
    private const int Desc = 0x000, Avail = 0x080, Used = 0x0C0, Table = 0x110, Data = 0x200;
    private const ushort Next = 1, Write = 2, Indirect = 4;

    public static IEnumerable<(string Name, byte[] Bytes)> All()
    {
        byte[] tx = Seeds.Hex("0100 0400 00 00 0000 00000000 23010000 DEADBEEF");

        var s = Layout();
        s.Put(Data, tx).Descriptor(0, Data, (uint)tx.Length, Next, 1).Descriptor(1, Data + 0x40, 1, Write, 0).Offer(0);
        yield return ("tx-request-and-status", s.Build(features: 1));

        s = Layout();
        s.Descriptor(0, Data, 100, 0, 0).Offer(0);
        yield return ("single-readable", s.Build());

        s = Layout();
        s.Descriptor(0, Data, 10, Next, 1).Descriptor(1, Data + 0x100, 7, Next, 2)
            .Descriptor(2, Data + 0x140, 3, Next | Write, 3).Descriptor(3, Data + 0x160, 9, Write, 0).Offer(0);
        yield return ("gather-scatter", s.Build());

        s = Layout(indirect: true);
        s.Put(Data, tx).Descriptor(0, Table, 32, Indirect, 0)
            .TableEntry(0, Data, (uint)tx.Length, Next, 1).TableEntry(1, Data + 0x40, 1, Write, 0).Offer(0);
        yield return ("indirect", s.Build(features: 1));

        s = Layout(indirect: true);
        s.Descriptor(0, Data, 4, Next, 3).Descriptor(3, Table, 32, Indirect | Write, 0)
            .TableEntry(0, Data + 0x10, 5, Next, 1).TableEntry(1, Data + 0x20, 6, Write, 0).Offer(0);
        yield return ("direct-then-indirect", s.Build());

        s = Layout();
        s.Descriptor(0, Data, 8, Next, 1).Descriptor(1, Data, 8, Next, 0).Offer(0);
        yield return ("loop", s.Build());

        s = Layout();
        s.Descriptor(0, Data, 8, Write | Next, 1).Descriptor(1, Data, 8, 0, 0).Offer(0);
        yield return ("readable-after-writable", s.Build());

        s = Layout();
        s.Descriptor(0, Data, 0, Next, 1).Descriptor(1, Data, 16, Next, 2).Descriptor(2, Data, 0, Write, 0).Offer(0);
        yield return ("zero-length", s.Build());

        s = Layout(eventIdx: true);
        s.Descriptor(0, Data, 16, 0, 0).Descriptor(1, Data + 0x10, 16, Write, 0).Descriptor(2, Data + 0x20, 16, 0, 0).Offer(0, 1, 2);
        yield return ("three-chains-event-idx", s.Build());

        s = Layout(lastAvail: 0xFFFF);
        s.Descriptor(5, Data, 16, 0, 0).Descriptor(6, Data + 0x10, 16, Write, 0).OfferAt(0xFFFF, 5, 6);
        yield return ("index-wrap", s.Build());

        s = Layout();
        s.Descriptor(0, Data, 16, 0, 0).Offer(0).Set16(Avail + 2, 9);
        yield return ("avail-idx-too-far", s.Build());

        s = Layout();
        s.Descriptor(0, Gpa + 0x10000 - 8, 16, 0, 0).Offer(0);
        yield return ("buffer-past-region", s.Build());

        // Two GPA-contiguous regions cut from different file offsets, a buffer across the seam.
        s = new SeedBuilder(0, 3, 0, [(Gpa, 0x1000, 0), (Gpa + 0x1000, 0x1000, 0x400)]);
        s.Descriptor(0, Gpa + 0x1000 - 8, 16, Next, 1).Descriptor(1, Gpa + 0x1800, 4, Write, 0).Offer(0).Put(0x400, [1, 2, 3, 4, 5, 6, 7, 8]);
        yield return ("two-regions-seam", s.Build());

        s = Layout(indirect: true);
        s.Descriptor(0, Gpa + 0x10000 - 16, 32, Indirect, 0).Offer(0);
        yield return ("indirect-table-past-region", s.Build());
    }

    private static SeedBuilder Layout(bool indirect = false, bool eventIdx = false, ushort lastAvail = 0) =>
        new((byte)((indirect ? 1 : 0) | (eventIdx ? 2 : 0)), 3, lastAvail, [(Gpa, 0x10000, 0)]);

    private sealed class SeedBuilder(byte flags, byte sizeLog, ushort lastAvail, (ulong Gpa, uint Size, uint Offset)[] regions)
    {
        private readonly byte[] _ram = new byte[ChainWalkTarget.RamFileSize];
        private int _end;

        public SeedBuilder Put(int offset, ReadOnlySpan<byte> bytes)
        {
            bytes.CopyTo(_ram.AsSpan(offset));
            _end = Math.Max(_end, offset + bytes.Length);
            return this;
        }

        public SeedBuilder Descriptor(int index, ulong address, uint length, ushort flags, ushort next) =>
            Entry(Desc + 16 * index, address < Gpa ? Gpa + address : address, length, flags, next);

        public SeedBuilder TableEntry(int index, ulong address, uint length, ushort flags, ushort next) =>
            Entry(Table + 16 * index, Gpa + address, length, flags, next);

        public SeedBuilder Offer(params ushort[] heads) => OfferAt(0, heads);

        public SeedBuilder OfferAt(ushort first, params ushort[] heads)
        {
            int size = 1 << sizeLog;
            for (int i = 0; i < heads.Length; i++) Set16(Avail + 4 + 2 * ((first + i) & (size - 1)), heads[i]);
            return Set16(Avail + 2, (ushort)(first + heads.Length));
        }

        public SeedBuilder Set16(int offset, ushort value)
        {
            Span<byte> bytes = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16LittleEndian(bytes, value);
            return Put(offset, bytes);
        }

        public byte[] Build(int features = 0)
        {
            var header = new List<byte> { (byte)(flags | ((regions.Length - 1) << 2) | (features << 4)), sizeLog };
            header.AddRange(BitConverter.GetBytes(lastAvail));
            foreach (var (gpa, size, offset) in regions)
            {
                header.AddRange(BitConverter.GetBytes(gpa));
                header.AddRange(BitConverter.GetBytes(size));
                header.AddRange(BitConverter.GetBytes(offset));
            }
            header.AddRange(BitConverter.GetBytes((uint)Desc));
            header.AddRange(BitConverter.GetBytes((uint)Avail));
            header.AddRange(BitConverter.GetBytes((uint)Used));
            return [.. header, .. _ram.AsSpan(0, Math.Max(_end, Used + 8))];
        }

        private SeedBuilder Entry(int offset, ulong address, uint length, ushort flags, ushort next)
        {
            Span<byte> d = stackalloc byte[16];
            BinaryPrimitives.WriteUInt64LittleEndian(d, address);
            BinaryPrimitives.WriteUInt32LittleEndian(d[8..], length);
            BinaryPrimitives.WriteUInt16LittleEndian(d[12..], flags);
            BinaryPrimitives.WriteUInt16LittleEndian(d[14..], next);
            return Put(offset, d);
        }
    }
}
