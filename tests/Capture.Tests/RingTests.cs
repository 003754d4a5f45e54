using VhostDeviceCan.Can;
using VhostDeviceCan.Capture;

namespace VhostDeviceCan.Capture.Tests;

public sealed class RingTests
{
    private static CanFrame Numbered(int i) => CanFrame.Classic((uint)i, false, [(byte)i]);

    [Fact]
    public void A_full_ring_drops_the_rest_of_a_batch_and_counts_it()
    {
        var ring = new CaptureRing(0, capacity: 4);
        ring.Write([Numbered(0), Numbered(1), Numbered(2)], CaptureDirection.Transmitted, 10);
        ring.Write([Numbered(3), Numbered(4), Numbered(5)], CaptureDirection.Received, 20);

        Assert.Equal(4, ring.Written);
        Assert.Equal(2, ring.Dropped);
        var records = new CaptureRecord[8];
        Assert.Equal(4, ring.Read(records));
        Assert.Equal([0u, 1u, 2u, 3u], records[..4].Select(r => r.Frame.Id));
        Assert.Equal([10L, 10L, 10L, 20L], records[..4].Select(r => r.Timestamp));
        Assert.Equal(CaptureDirection.Received, records[3].Direction);
    }

    [Fact]
    public void Room_the_reader_frees_is_used_again_in_order_across_laps()
    {
        var ring = new CaptureRing(0, capacity: 4);
        var records = new CaptureRecord[3];
        int next = 0, expected = 0;
        for (int lap = 0; lap < 10; lap++)
        {
            ring.Write([Numbered(next++), Numbered(next++), Numbered(next++)], CaptureDirection.Transmitted, lap);
            int count = ring.Read(records);
            Assert.Equal(3, count);
            foreach (CaptureRecord record in records) Assert.Equal((uint)expected++, record.Frame.Id);
        }
        Assert.Equal(0, ring.Dropped);
        Assert.Equal(0, ring.Read(records));
    }

    [Fact]
    public async Task A_producer_and_a_reader_on_two_threads_lose_nothing_the_ring_takes()
    {
        var ring = new CaptureRing(0, capacity: 64);
        const int Total = 200_000;
        var reader = Task.Run(() =>
        {
            var records = new CaptureRecord[32];
            long expected = 0;
            while (expected + ring.Dropped < Total || ring.Written > expected)
            {
                int count = ring.Read(records);
                for (int i = 0; i < count; i++)
                {
                    // Each record arrives whole: its payload byte matches its identifier.
                    Assert.Equal((byte)records[i].Frame.Id, records[i].Frame.Data[0]);
                }
                expected += count;
            }
            return expected;
        });
        var batch = new CanFrame[8];
        for (int i = 0; i < Total; i += batch.Length)
        {
            for (int k = 0; k < batch.Length; k++) batch[k] = Numbered((i + k) & 0x7FF);
            ring.Write(batch, CaptureDirection.Transmitted, i);
        }
        long read = await reader.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(Total, read + ring.Dropped);
    }
}
