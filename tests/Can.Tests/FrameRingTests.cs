namespace VhostDeviceCan.Can.Tests;

public class FrameRingTests
{
    [Fact]
    public void Frames_come_out_in_order_across_many_laps()
    {
        var ring = new FrameRing(4);
        var output = new CanFrame[3];
        uint sent = 0, expected = 0;
        for (int lap = 0; lap < 1000; lap++)
        {
            for (int i = 0; i < 3; i++) Assert.True(ring.TryEnqueue(CanFrame.Classic(sent++ & 0x7FF, false, [])));
            Assert.Equal(3, ring.Count);
            Assert.Equal(3, ring.DequeueInto(output));
            foreach (var frame in output) Assert.Equal(expected++ & 0x7FF, frame.Id);
        }
        Assert.False(ring.HasPublished);
        Assert.Equal(0, ring.DequeueInto(output));
    }

    [Fact]
    public void A_full_ring_refuses_without_overwriting()
    {
        var ring = new FrameRing(2);
        Assert.True(ring.TryEnqueue(CanFrame.Classic(1, false, [])));
        Assert.True(ring.TryEnqueue(CanFrame.Classic(2, false, [])));
        Assert.False(ring.TryEnqueue(CanFrame.Classic(3, false, [])));
        Assert.Equal(2, ring.Count);

        var output = new CanFrame[1];
        Assert.Equal(1, ring.DequeueInto(output));
        Assert.Equal(1u, output[0].Id);
        Assert.True(ring.TryEnqueue(CanFrame.Classic(4, false, [])));
        var rest = new CanFrame[4];
        Assert.Equal(2, ring.DequeueInto(rest));
        Assert.Equal(new uint[] { 2, 4 }, rest[..2].Select(f => f.Id));
    }
}
