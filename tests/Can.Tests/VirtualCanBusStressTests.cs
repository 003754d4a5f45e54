using System.Diagnostics;
using System.Runtime.CompilerServices;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Can.Tests;

public class VirtualCanBusStressTests
{
    private const int Producers = 2;
    private const int FramesPerProducer = 100_000;
    private const int InboxCapacity = 1024;

    /// <summary>
    /// Two sender threads into one receiver that sleeps in epoll until woken by its eventfd.
    /// Senders pace themselves on the receiver's backlog, so nothing may be dropped: a frame
    /// lost, duplicated or out of order, or a wake-up lost (a long epoll timeout while frames
    /// are pending), fails the test.
    /// </summary>
    [Fact]
    public void Two_producers_into_one_consumer_deliver_every_frame_once_in_order()
    {
        var bus = new VirtualCanBus("stress-" + Guid.NewGuid().ToString("N"));
        using var consumer = bus.Join(InboxCapacity);
        var producers = Enumerable.Range(0, Producers).Select(_ => bus.Join(inboxCapacity: 2)).ToArray();
        string? failure = null;
        var stop = new StrongBox<bool>();
        long[] next = new long[Producers];
        int received = 0;

        var receiving = new Thread(() =>
        {
            using var epoll = new Epoll();
            epoll.Add(consumer.PollFd, token: 0);
            Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];
            Span<CanFrame> frames = stackalloc CanFrame[256];
            var deadline = Stopwatch.StartNew();
            while (received < Producers * FramesPerProducer && failure is null)
            {
                if (deadline.Elapsed > TimeSpan.FromSeconds(60)) { failure = "timed out"; break; }
                if (epoll.Wait(events, timeoutMs: 10_000) == 0 && consumer.PendingCount > 0)
                {
                    failure = $"lost wake-up with {consumer.PendingCount} frames pending";
                    break;
                }
                int count;
                while ((count = consumer.Receive(frames, out _)) > 0)
                {
                    foreach (ref readonly var frame in frames[..count])
                    {
                        int producer = (int)frame.Id - 0x100;
                        long sequence = BitConverter.ToInt64(frame.Data);
                        if ((uint)producer >= Producers || sequence != next[producer])
                        {
                            failure = $"producer {producer}: got {sequence}, expected {next[Math.Clamp(producer, 0, Producers - 1)]}";
                            Volatile.Write(ref stop.Value, true);
                            return;
                        }
                        next[producer]++;
                    }
                    received += count;
                }
            }
            Volatile.Write(ref stop.Value, true);
        }) { IsBackground = true };
        receiving.Start();

        var sending = producers.Select((member, index) => new Thread(() => Produce(member, index, consumer, stop)) { IsBackground = true }).ToArray();
        foreach (var thread in sending) thread.Start();

        foreach (var thread in sending) Assert.True(thread.Join(TimeSpan.FromSeconds(90)), "a producer did not finish");
        Assert.True(receiving.Join(TimeSpan.FromSeconds(90)), "the consumer did not finish");
        Assert.Null(failure);
        Assert.Equal(Producers * FramesPerProducer, received);
        Assert.All(next, n => Assert.Equal(FramesPerProducer, n));
        Assert.Equal(0, consumer.Dropped);
        foreach (var producer in producers) producer.Dispose();
    }

    // One producer sends frame by frame, the other in batches, to cover both paths. Neither
    // paces itself: the bus's back-pressure alone keeps the consumer's inbox from overflowing,
    // so a drop would be a bug. Each producer is also a member that never takes its frames: it
    // is overrun once, which must not disturb the consumer.
    private static void Produce(VirtualCanBusMember member, int index, VirtualCanBusMember consumer, StrongBox<bool> stop)
    {
        Span<CanFrame> batch = stackalloc CanFrame[32];
        for (long sequence = 0; sequence < FramesPerProducer;)
        {
            if (Volatile.Read(ref stop.Value)) return;
            int size = index == 0 ? 1 : (int)Math.Min(batch.Length, FramesPerProducer - sequence);
            for (int i = 0; i < size; i++)
            {
                batch[i] = CanFrame.Classic((uint)(0x100 + index), false, BitConverter.GetBytes(sequence + i));
            }
            member.SendAll(batch[..size], TimeSpan.FromSeconds(10));
            sequence += size;
        }
    }
}
