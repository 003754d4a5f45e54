namespace VhostDeviceCan.Virtqueue.Tests;

/// <summary>
/// Driver and device exchanging buffers under the notification rules only: the device runs only when
/// kicked (or when it stopped with work left), the driver reaps only when interrupted. A lost kick or
/// interrupt stalls the exchange, which the test detects.
/// </summary>
public class RoundTripTests
{
    private const int Total = 100_000;

    [Theory]
    [InlineData(64, false, false)]
    [InlineData(64, true, false)]
    [InlineData(64, false, true)]
    [InlineData(64, true, true)]
    [InlineData(256, false, false)]
    [InlineData(256, true, false)]
    [InlineData(256, false, true)]
    [InlineData(256, true, true)]
    public void Hundred_thousand_buffers_arrive_intact(int size, bool eventIdx, bool indirect)
    {
        using var q = new QueuePair((ushort)size, eventIdx);
        var rng = new Random(size * 4 + (eventIdx ? 2 : 0) + (indirect ? 1 : 0));
        var inFlight = new Queue<Offered>();
        var buffers = new DriverBuffer[4];
        var scratch = new byte[4096];
        int offered = 0, completed = 0;
        bool deviceScheduled = false, interrupted = false;

        while (completed < Total)
        {
            int progress = offered + completed;

            // Driver: offer a random batch, then kick if the device asked for it.
            int batch = rng.Next(1, size + 1);
            int added = 0;
            while (offered < Total && added < batch)
            {
                var o = Shape(q, rng, offered, buffers, out int count);
                if (!q.Driver.TryAddChain(buffers.AsSpan(0, count), indirect && count > 1, out ushort head)) break;
                // Fill only once the chain is in: a refused offer must not touch a slot still in flight.
                q.Write(o.ReadGpa, TestMemory.Pattern(o.ReadLength, o.Index));
                q.Write(o.WriteGpa, Enumerable.Repeat((byte)0xCC, o.WriteLength + 1).ToArray());
                inFlight.Enqueue(o with { Head = head });
                offered++;
                added++;
            }
            if (added > 0)
            {
                q.Driver.PublishAvailable();
                if (q.Driver.NeedsKick()) deviceScheduled = true;
            }

            // Device: drain (or stop after a random budget and stay scheduled).
            if (deviceScheduled)
            {
                deviceScheduled = false;
                int budget = rng.Next(1, 2 * size);
                q.Device.DisableNotification();
                while (true)
                {
                    while (budget > 0 && q.Device.TryPop(out var chain) == PopResult.Chain)
                    {
                        budget--;
                        q.Device.AddUsed(chain.Head, Serve(q.Device, chain, scratch));
                    }
                    Assert.False(q.Device.IsBroken, q.Device.BrokenReason);
                    if (q.Device.PublishUsed()) interrupted = true;
                    if (budget == 0) { deviceScheduled = true; break; }
                    if (!q.Device.EnableNotification()) break;
                    q.Device.DisableNotification();
                }
            }

            // Driver: reap on interrupt, checking every byte and length, in order.
            if (interrupted)
            {
                interrupted = false;
                while (q.Driver.TryTakeUsed(out ushort head, out uint length))
                {
                    var o = inFlight.Dequeue();
                    Assert.Equal(o.Head, head);
                    Check(q, o, length);
                    completed++;
                }
            }

            Assert.True(offered + completed != progress || deviceScheduled || interrupted,
                $"Stalled at {offered} offered, {completed} completed: a notification was lost.");
        }
        Assert.Equal(size, q.Driver.FreeDescriptors);
        Assert.Empty(inFlight);
    }

    private readonly record struct Offered(int Index, ulong ReadGpa, int ReadLength, ulong WriteGpa, int WriteLength, ushort Head);

    /// <summary>0–2 readable and 1–2 writable buffers in the data slot of this offer.</summary>
    private static Offered Shape(QueuePair q, Random rng, int index, DriverBuffer[] buffers, out int count)
    {
        // At most Size chains are in flight and they complete in order, so slots never collide.
        ulong slot = q.DataGpa + (ulong)(index % q.Driver.Size) * q.DataSlotSize;
        ulong half = q.DataSlotSize / 2;
        int readers = rng.Next(0, 3), writers = rng.Next(1, 3);
        count = 0;
        int readLength = 0, writeLength = 0;
        for (int i = 0; i < readers; i++)
        {
            int length = rng.Next(0, 300);
            buffers[count++] = new DriverBuffer(slot + (ulong)readLength, (uint)length, false);
            readLength += length;
        }
        for (int i = 0; i < writers; i++)
        {
            int length = rng.Next(0, 300);
            buffers[count++] = new DriverBuffer(slot + half + (ulong)writeLength, (uint)length, true);
            writeLength += length;
        }
        return new Offered(index, slot, readLength, slot + half, writeLength, 0);
    }

    /// <summary>The device: reads everything, writes min(writable, readable + 5) bytes derived from it.</summary>
    private static uint Serve(SplitQueue device, in DescriptorChain chain, byte[] scratch)
    {
        var reader = device.GetReader(chain);
        int read = reader.Read(scratch);
        Assert.Equal((int)chain.ReadableLength, read);
        int toWrite = (int)Math.Min(chain.WritableLength, chain.ReadableLength + 5);
        Span<byte> output = stackalloc byte[toWrite];
        Transform(scratch.AsSpan(0, read), output);
        var writer = device.GetWriter(chain);
        Assert.Equal(toWrite, writer.Write(output));
        return writer.Written;
    }

    private static void Transform(ReadOnlySpan<byte> input, Span<byte> output)
    {
        for (int i = 0; i < output.Length; i++)
            output[i] = input.IsEmpty ? (byte)(i * 3) : (byte)(input[i % input.Length] ^ 0xA5);
    }

    private static void Check(QueuePair q, Offered o, uint length)
    {
        int expectedLength = Math.Min(o.WriteLength, o.ReadLength + 5);
        Assert.Equal((uint)expectedLength, length);
        var expected = new byte[expectedLength + 1];
        Transform(TestMemory.Pattern(o.ReadLength, o.Index), expected.AsSpan(0, expectedLength));
        expected[expectedLength] = 0xCC; // nothing written past the used length
        Assert.Equal(expected, q.Read(o.WriteGpa, expectedLength + 1));
    }
}
