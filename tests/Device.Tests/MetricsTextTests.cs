using System.Diagnostics;
using VhostDeviceCan.Can;
using VhostDeviceCan.Device.Metrics;
using VhostDeviceCan.VirtioCanWire;

namespace VhostDeviceCan.Device.Tests;

/// <summary>The Prometheus text the metrics endpoint serves, rendered from a device driven
/// through its queues, read back with a strict parser.</summary>
public sealed class MetricsTextTests
{
    private const string Socket = "/tmp/odd \"dir\"\\with\nline/can.sock0";

    private static Exposition Render(SyncDevice device, bool connected = true)
    {
        var writer = new StringWriter();
        MetricsText.Write(writer, [new GuestMetricsSource(0, Socket, device.Device, () => connected)]);
        return Exposition.Parse(writer.ToString());
    }

    [Fact]
    public void Counters_by_direction_and_reason_match_what_the_device_did()
    {
        var filter = CanIdFilter.Parse("100-1FF", out _);
        using var device = new SyncDevice(options: new CanDeviceOptions { TxFilter = filter });
        device.Start();
        device.Send(CanFrame.Classic(0x123, false, [1, 2, 3]), CanFrame.Remote(0x124, false, 4), CanFrame.Fd(0x125, false, new byte[12], 0),
            CanFrame.Classic(0x300, false, [9]));
        Assert.Equal(4, device.TakeTxResults().Length);
        device.PostRxBuffers(1);
        device.Inject(CanFrame.Classic(0x10, false, [1, 2, 3, 4, 5]), CanFrame.Classic(0x11, false, [6]));
        Assert.Single(device.TakeRx());

        Exposition text = Render(device);
        string[] guest = ["guest=0", $"socket={Socket}", "bus=test-transport"];
        Assert.Equal(3, text.Value("vhost_device_can_frames_total", [.. guest, "direction=tx"]));
        Assert.Equal(3 + 0 + 12, text.Value("vhost_device_can_bytes_total", [.. guest, "direction=tx"]));
        Assert.Equal(1, text.Value("vhost_device_can_frames_total", [.. guest, "direction=rx"]));
        Assert.Equal(5, text.Value("vhost_device_can_bytes_total", [.. guest, "direction=rx"]));
        Assert.Equal(1, text.Value("vhost_device_can_tx_refused_total", [.. guest, "reason=tx_filter"]));
        Assert.Equal(0, text.Value("vhost_device_can_tx_refused_total", [.. guest, "reason=controller_stopped"]));
        Assert.Equal(1, text.Value("vhost_device_can_queue_occupancy", [.. guest, "queue=rx_backlog"]));
        Assert.Equal(1, text.Value("vhost_device_can_controller_state", [.. guest, "state=started"]));
        Assert.Equal(0, text.Value("vhost_device_can_controller_state", [.. guest, "state=stopped"]));
        Assert.Equal(1, text.Value("vhost_device_can_guest_connected", guest));

        // STOP discards the frame still waiting for a receive buffer: dropped, by its reason.
        device.Stop();
        text = Render(device, connected: false);
        Assert.Equal(1, text.Value("vhost_device_can_dropped_frames_total", [.. guest, "direction=rx", "reason=controller_stopped"]));
        Assert.Equal(0, text.Value("vhost_device_can_queue_occupancy", [.. guest, "queue=rx_backlog"]));
        Assert.Equal(1, text.Value("vhost_device_can_controller_state", [.. guest, "state=stopped"]));
        Assert.Equal(0, text.Value("vhost_device_can_guest_connected", guest));
        Assert.Equal(4, text.Value("vhost_device_can_tx_ack_latency_seconds_count", guest));
    }

    [Fact]
    public void Label_values_with_quotes_backslashes_and_line_feeds_come_back_unchanged()
    {
        using var device = new SyncDevice();
        Exposition text = Render(device);
        Assert.NotEmpty(text.Samples);
        Assert.All(text.Samples.Where(s => s.Labels.ContainsKey("guest")), s => Assert.Equal(Socket, s.Labels["socket"]));
    }

    [Fact]
    public void Every_family_follows_the_naming_conventions()
    {
        using var device = new SyncDevice();
        Exposition text = Render(device);
        foreach (var (name, type) in text.Types)
        {
            Assert.StartsWith("vhost_device_can_", name);
            Assert.Equal(type == "counter", name.EndsWith("_total", StringComparison.Ordinal));
            Assert.False(string.IsNullOrWhiteSpace(text.Help[name]), name);
        }
        // Every reason a request can be refused for has its own series, zero or not.
        string[] reasons = [.. text.Samples.Where(s => s.Name == "vhost_device_can_tx_refused_total").Select(s => s.Labels["reason"])];
        Assert.Equal(reasons.Length, reasons.Distinct().Count());
        Assert.Contains("standard_id_out_of_range", reasons);
        Assert.Contains("not_confirmed", reasons);
        Assert.Contains("cancelled", reasons);
    }

    [Fact]
    public void Histogram_buckets_are_cumulative_and_the_count_is_the_inf_bucket()
    {
        using var device = new SyncDevice();
        LatencyHistogram histogram = device.Device.TxAckLatency;
        long Ticks(double seconds) => (long)(seconds * Stopwatch.Frequency);
        // 5 µs and 10 µs land in le=0.00001 (bounds are inclusive), 30 µs in 0.00005, 2 ms in 0.0025, 3 s in +Inf.
        foreach (double seconds in new[] { 0.000_005, 0.000_010, 0.000_030, 0.002, 3.0 }) histogram.Observe(Ticks(seconds));

        Exposition text = Render(device);
        var buckets = text.Samples.Where(s => s.Name == "vhost_device_can_tx_ack_latency_seconds_bucket").ToList();
        Assert.Equal(LatencyHistogram.UpperBoundsSeconds.Count + 1, buckets.Count);
        Assert.Equal("+Inf", buckets[^1].Labels["le"]);
        for (int i = 1; i < buckets.Count; i++) Assert.True(buckets[i].Value >= buckets[i - 1].Value, "buckets must be cumulative");
        double Bucket(string le) => buckets.Single(b => b.Labels["le"] == le).Value;
        Assert.Equal(2, Bucket("0.00001"));
        Assert.Equal(2, Bucket("0.000025"));
        Assert.Equal(3, Bucket("0.00005"));
        Assert.Equal(3, Bucket("0.001"));
        Assert.Equal(4, Bucket("0.0025"));
        Assert.Equal(4, Bucket("1"));
        Assert.Equal(5, Bucket("+Inf"));
        Assert.Equal(5, text.Value("vhost_device_can_tx_ack_latency_seconds_count"));
        Assert.Equal(3.002045, text.Value("vhost_device_can_tx_ack_latency_seconds_sum"), 4);
    }

    [Fact]
    public void Requests_pending_confirmation_at_STOP_count_as_cancelled_and_are_timed()
    {
        using var device = new SyncDevice(new TestTransport(confirmation: TxConfirmation.Deferred));
        device.Start();
        device.Send(CanFrame.Classic(1, false, [1]), CanFrame.Classic(2, false, [2]));
        Assert.Empty(device.TakeTxResults());
        Exposition text = Render(device);
        Assert.Equal(2, text.Value("vhost_device_can_queue_occupancy", "queue=tx"));
        Assert.Equal(0, text.Value("vhost_device_can_tx_ack_latency_seconds_count"));

        device.Stop();
        Assert.Equal([VirtioCan.VIRTIO_CAN_RESULT_NOT_OK, VirtioCan.VIRTIO_CAN_RESULT_NOT_OK], device.TakeTxResults());
        text = Render(device);
        Assert.Equal(2, text.Value("vhost_device_can_tx_refused_total", "reason=cancelled"));
        Assert.Equal(0, text.Value("vhost_device_can_queue_occupancy", "queue=tx"));
        Assert.Equal(2, text.Value("vhost_device_can_tx_ack_latency_seconds_count"));
    }
}
