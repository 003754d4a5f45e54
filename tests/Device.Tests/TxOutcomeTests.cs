using VhostDeviceCan.Can;
using VhostDeviceCan.VirtioCanWire;

namespace VhostDeviceCan.Device.Tests;

/// <summary>
/// LATE_TX_ACK against a transport that reports outcomes however it likes (docs/spec/virtio-can.md §8.4):
/// out of order, never, twice, for frames the device gave up on, or for tags it never issued.
/// Each outcome completes its own request or nothing, and completions keep ring order.
/// </summary>
public sealed class TxOutcomeTests
{
    private const byte Ok = VirtioCan.VIRTIO_CAN_RESULT_OK;
    private const byte NotOk = VirtioCan.VIRTIO_CAN_RESULT_NOT_OK;

    private static CanFrame Frame(int i) => CanFrame.Classic((uint)i & 0x7FF, false, [(byte)i]);

    private static SyncDevice StartedDevice()
    {
        var device = new SyncDevice(new TestTransport(confirmation: TxConfirmation.Deferred));
        Assert.True(device.Has(VirtioCan.VIRTIO_CAN_F_LATE_TX_ACK));
        device.Start();
        return device;
    }

    private static void Report(SyncDevice device, params TxOutcome[] outcomes)
    {
        device.Transport.Report(outcomes);
        device.TransportReadable();
    }

    private static TxOutcome Confirmed(TxTag tag) => new(tag, true);

    [Fact]
    public void Out_of_order_confirmations_complete_each_its_own_request_in_ring_order()
    {
        using var device = StartedDevice();
        device.Send(Frame(1), Frame(2), Frame(3));
        var tags = device.Transport.SentTags;
        Assert.Equal(3, tags.Count);
        Assert.Equal(3, tags.Distinct().Count());

        Report(device, Confirmed(tags[2]));
        Assert.Empty(device.TakeTxResults());
        Report(device, Confirmed(tags[0]));
        Assert.Equal([Ok], device.TakeTxResults());
        Report(device, Confirmed(tags[1]));
        Assert.Equal([Ok, Ok], device.TakeTxResults());
        Assert.Equal(0, device.TxInFlight);
    }

    [Fact]
    public void A_failed_outcome_answers_its_request_NOT_OK_and_no_other()
    {
        using var device = StartedDevice();
        device.Send(Frame(1), Frame(2), Frame(3));
        var tags = device.Transport.SentTags;

        Report(device, new TxOutcome(tags[1], Confirmed: false), Confirmed(tags[0]));
        Assert.Equal([Ok, NotOk], device.TakeTxResults());
        Assert.Equal(1, device.Counters.TxNotConfirmed);
        Assert.Equal(1, device.TxInFlight);
        Report(device, Confirmed(tags[2]));
        Assert.Equal([Ok], device.TakeTxResults());
    }

    [Fact]
    public void A_lost_confirmation_holds_its_request_until_STOP_fails_it()
    {
        using var device = StartedDevice();
        device.Send(Frame(1), Frame(2));
        var tags = device.Transport.SentTags;

        // The second is on the bus, the first never reported: ring order keeps both waiting.
        Report(device, Confirmed(tags[1]));
        Assert.Empty(device.TakeTxResults());
        Assert.Equal(2, device.TxInFlight);

        device.Stop();
        Assert.Equal([NotOk, Ok], device.TakeTxResults());
    }

    [Fact]
    public void A_duplicated_confirmation_completes_nothing_more()
    {
        using var device = StartedDevice();
        device.Send(Frame(1));
        TxTag first = device.Transport.SentTags[0];
        Report(device, Confirmed(first));
        Assert.Equal([Ok], device.TakeTxResults());

        device.Send(Frame(2));
        Report(device, Confirmed(first), Confirmed(first));
        Assert.Empty(device.TakeTxResults());
        Assert.Equal(1, device.TxInFlight);
        Report(device, Confirmed(device.Transport.SentTags[1]));
        Assert.Equal([Ok], device.TakeTxResults());
    }

    [Fact]
    public void Outcomes_for_tags_the_device_never_issued_complete_nothing()
    {
        using var device = StartedDevice();
        device.Send(Frame(1));
        TxTag tag = device.Transport.SentTags[0];

        // Garbage, the same request slot with another sequence number, and the empty tag.
        Report(device,
            Confirmed(new TxTag(0xdead_beef_0000_0001)),
            Confirmed(new TxTag(tag.Value + (1UL << 16))),
            Confirmed(default),
            new TxOutcome(new TxTag(tag.Value ^ 1), Confirmed: false));
        Assert.Empty(device.TakeTxResults());
        Assert.Equal(0, device.Counters.TxNotOkBusDown);

        Report(device, Confirmed(tag));
        Assert.Equal([Ok], device.TakeTxResults());
    }

    [Fact]
    public void A_confirmation_for_a_request_failed_by_STOP_does_not_complete_a_later_one()
    {
        using var device = StartedDevice();
        device.Send(Frame(1));
        TxTag failed = device.Transport.SentTags[0];
        device.Stop();
        Assert.Equal([NotOk], device.TakeTxResults());

        device.Start();
        device.Send(Frame(2));
        // The frame was still on its way and goes out now: that says nothing about frame 2.
        Report(device, Confirmed(failed));
        Assert.Empty(device.TakeTxResults());
        Assert.Equal(1, device.TxInFlight);
        Report(device, Confirmed(device.Transport.SentTags[1]));
        Assert.Equal([Ok], device.TakeTxResults());
    }

    [Fact]
    public void More_outcomes_than_one_receive_takes_are_all_applied()
    {
        using var device = StartedDevice();
        var frames = Enumerable.Range(0, 30).Select(Frame).ToArray();
        device.Send(frames);
        var tags = device.Transport.SentTags;
        Assert.Equal(30, tags.Count);
        // Each three times, newest first: 90 outcomes, more than the device takes per call.
        Report(device, [.. tags.Reverse().SelectMany(t => new[] { Confirmed(t), Confirmed(t), Confirmed(t) })]);
        Assert.Equal(Enumerable.Repeat(Ok, 30), device.TakeTxResults());
    }
}
