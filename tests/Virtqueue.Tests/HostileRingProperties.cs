using System.Buffers.Binary;
using FsCheck.Xunit;

namespace VhostDeviceCan.Virtqueue.Tests;

/// <summary>
/// Random bytes as descriptor table, available ring and guest memory: the device must never throw,
/// never write outside the used ring and the writable buffers of chains it accepted, and always end
/// in Chain, Empty or Broken.
/// </summary>
public class HostileRingProperties
{
    private const ushort N = 8;

    [Property(MaxTest = 300)]
    public void Random_rings_never_throw_and_write_only_writable_buffers(
        byte[] descriptorBytes, byte[] availableBytes, ushort availableIdx, ushort nextAvailable, bool indirect, bool eventIdx)
    {
        using var q = new QueuePair(N, eventIdx, indirect);
        var table = Fold(Fill(descriptorBytes ?? [], N * Descriptor.Size));
        // Tile descriptor-like bytes over the indirect and data areas, so indirect tables read plausible entries.
        var tiles = Fold(Fill(availableBytes ?? [], 0x4000));
        for (ulong offset = 0x40000; offset < QueuePair.Span; offset += (ulong)tiles.Length) q.Write(q.BaseGpa + offset, tiles);
        q.Write(q.Driver.DescriptorGpa, table);
        var ring = Fill(availableBytes ?? [], 2 * N + 6);
        for (int i = 0; i < N; i++)
        {
            ushort head = BinaryPrimitives.ReadUInt16LittleEndian(ring.AsSpan(2 * i));
            q.Driver.WriteAvailableRaw((ushort)i, ring[i] % 4 == 0 ? head : (ushort)(head % N));
        }
        q.Device.NextAvailable = nextAvailable;
        q.Driver.SetAvailableIndexRaw(availableIdx % 4 == 0 ? availableIdx : (ushort)(nextAvailable + availableIdx % (N + 2)));

        var before = q.Read(q.BaseGpa, (int)QueuePair.Span);
        var allowed = new bool[before.Length];
        Allow(allowed, q.BaseGpa, q.Driver.UsedGpa, RingLayout.UsedRingSize(N));
        var fill = Enumerable.Repeat((byte)0xEE, 0x10000).ToArray();

        for (int i = 0; i < N + 3; i++)
        {
            var result = q.Device.TryPop(out var chain);
            Assert.True(result is PopResult.Chain or PopResult.Empty or PopResult.Broken);
            Assert.Equal(result == PopResult.Broken, q.Device.IsBroken);
            if (result != PopResult.Chain) break;

            foreach (var segment in q.Device.WritableSegments) Allow(allowed, q.BaseGpa, segment.Address, segment.Length);
            var reader = q.Device.GetReader(chain);
            while (reader.Read(fill.AsSpan(0, 0x1000)) > 0) { }
            Array.Fill(fill, (byte)0xEE);
            var writer = q.Device.GetWriter(chain);
            while (writer.Write(fill) > 0) { }
            Assert.Equal(chain.WritableLength, writer.Written);
            q.Device.AddUsed(chain.Head, writer.Written);
            q.Device.PublishUsed();
            q.Device.EnableNotification();
        }

        var after = q.Read(q.BaseGpa, (int)QueuePair.Span);
        for (int i = 0; i < after.Length; i++)
        {
            if (after[i] != before[i] && !allowed[i])
                Assert.Fail($"Device wrote GPA 0x{q.BaseGpa + (ulong)i:x}, outside every writable buffer.");
        }
    }

    private static void Allow(bool[] allowed, ulong baseGpa, ulong start, ulong length)
    {
        // Segments were validated to lie in guest memory, which here is exactly [baseGpa, baseGpa + Span).
        allowed.AsSpan((int)(start - baseGpa), (int)length).Fill(true);
    }

    private static byte[] Fill(byte[] seed, int length)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++) bytes[i] = seed.Length == 0 ? (byte)i : (byte)(seed[i % seed.Length] + i / seed.Length);
        return bytes;
    }

    /// <summary>Pulls most descriptors' addresses into guest memory and their lengths under 1 KiB, keeping flags and next.</summary>
    private static byte[] Fold(byte[] bytes)
    {
        for (int i = 0; i + Descriptor.Size <= bytes.Length; i += Descriptor.Size)
        {
            var entry = bytes.AsSpan(i, Descriptor.Size);
            if (entry[15] % 4 == 0) continue; // leave a quarter fully random
            ulong address = BinaryPrimitives.ReadUInt64LittleEndian(entry);
            BinaryPrimitives.WriteUInt64LittleEndian(entry, TestMemory.Gpa + address % QueuePair.Span);
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(entry[8..]);
            BinaryPrimitives.WriteUInt32LittleEndian(entry[8..], entry[14] % 8 == 0 ? length % 0x400 & ~15u : length % 0x200);
            BinaryPrimitives.WriteUInt16LittleEndian(entry[12..], (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(entry[12..]) & 7));
            BinaryPrimitives.WriteUInt16LittleEndian(entry[14..], (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(entry[14..]) % (N + 1)));
        }
        return bytes;
    }
}
