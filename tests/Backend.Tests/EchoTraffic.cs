using VhostDeviceCan.Frontend;
using VhostDeviceCan.Virtqueue;

namespace VhostDeviceCan.Backend.Tests;

/// <summary>
/// Drives chains through an echo device the way a busy driver does: keep the ring as full as the
/// buffers allow, kick, wait on the call eventfd, take what was used, check it, refill.
/// </summary>
internal static class EchoTraffic
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>Slack after each writable buffer: the device must not write there, and the used length must not count it.</summary>
    private const int WritableSlack = 5;

    /// <summary>
    /// Moves <paramref name="count"/> chains through queue <paramref name="queueIndex"/> and checks
    /// every byte echoed and every used length. Direct chains are [readable, writable]; indirect ones
    /// are one indirect descriptor over [readable, readable, writable].
    /// </summary>
    /// <param name="dataGpa">When set, the readable bytes come from this GPA (for example a
    /// hot-plugged region) instead of the queue's own buffers; at most one chain is in flight then.</param>
    public static void Run(VirtioFrontend frontend, int queueIndex, int count, bool indirect = false, int seed = 0,
        ulong? dataGpa = null, Func<string>? diagnostics = null)
    {
        var queue = frontend.Queue(queueIndex);
        var ram = frontend.Ram;
        int half = queue.Buffers.SlotSize / 2;
        int maxLength = Math.Min(half - WritableSlack, 300);
        var slotOf = new ulong[queue.Size];
        var lengthOf = new int[queue.Size];
        var sequenceOf = new int[queue.Size];
        Span<DriverBuffer> chain = stackalloc DriverBuffer[3];
        int sent = 0, done = 0;
        while (done < count)
        {
            while (sent < count && (dataGpa is null || sent == done) && queue.Buffers.TryRent(out ulong slot))
            {
                int length = 2 + (sent * 37 + seed) % (maxLength - 1);
                ulong source = dataGpa ?? slot;
                Fill(ram.GetSpan(source, length), sent + seed);
                ram.GetSpan(slot + (ulong)half, length + WritableSlack).Fill(0xEE);
                int buffers;
                if (indirect)
                {
                    int first = length / 2;
                    chain[0] = new DriverBuffer(source, (uint)first, false);
                    chain[1] = new DriverBuffer(source + (ulong)first, (uint)(length - first), false);
                    chain[2] = new DriverBuffer(slot + (ulong)half, (uint)(length + WritableSlack), true);
                    buffers = 3;
                }
                else
                {
                    chain[0] = new DriverBuffer(source, (uint)length, false);
                    chain[1] = new DriverBuffer(slot + (ulong)half, (uint)(length + WritableSlack), true);
                    buffers = 2;
                }
                if (!queue.TryAdd(chain[..buffers], indirect, out ushort head))
                {
                    queue.Buffers.Return(slot);
                    break;
                }
                slotOf[head] = slot;
                lengthOf[head] = length;
                sequenceOf[head] = sent + seed;
                sent++;
            }
            queue.Kick();
            if (!queue.WaitForUsed(Timeout))
                Assert.Fail($"queue {queueIndex}: nothing used within {Timeout} after {done} of {count} chains\n{diagnostics?.Invoke()}");
            while (queue.TryTakeUsed(out ushort head, out uint used))
            {
                int length = lengthOf[head];
                if (used != (uint)length) Assert.Fail($"chain {sequenceOf[head]}: used length {used}, expected {length}");
                var echoed = ram.GetSpan(slotOf[head] + (ulong)half, length + WritableSlack);
                if (!Matches(echoed[..length], sequenceOf[head]))
                    Assert.Fail($"chain {sequenceOf[head]}: echoed bytes differ");
                foreach (byte b in echoed[length..])
                    if (b != 0xEE) Assert.Fail($"chain {sequenceOf[head]}: the device wrote past the echoed bytes");
                queue.Buffers.Return(slotOf[head]);
                done++;
            }
        }
    }

    private static byte Pattern(int sequence, int index) => (byte)(sequence * 7 + index * 13 + (sequence >> 8));

    private static void Fill(Span<byte> bytes, int sequence)
    {
        for (int i = 0; i < bytes.Length; i++) bytes[i] = Pattern(sequence, i);
    }

    private static bool Matches(ReadOnlySpan<byte> bytes, int sequence)
    {
        for (int i = 0; i < bytes.Length; i++)
            if (bytes[i] != Pattern(sequence, i)) return false;
        return true;
    }
}
