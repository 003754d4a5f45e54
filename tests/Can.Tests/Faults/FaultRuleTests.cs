using VhostDeviceCan.Can.Faults;
using static VhostDeviceCan.Can.Tests.Faults.FaultTestBus;

namespace VhostDeviceCan.Can.Tests.Faults;

public class FaultRuleTests
{
    [Fact]
    public void Drop_every_tenth_loses_exactly_frames_10_20_and_so_on()
    {
        using var bus = new FaultTestBus(senderFaults: "tx:drop-every=10");
        bus.SendNumbered(100);
        List<CanFrame> received = Drain(bus.Receiver);
        Assert.Equal(90, received.Count);
        int[] expected = Enumerable.Range(0, 100).Where(i => (i + 1) % 10 != 0).ToArray();
        Assert.Equal(expected.Select(Numbered), received);
        Assert.Equal(10, bus.Sender.Counts.TxDropped);
        Assert.Equal(0, bus.Receiver.Counts.Total);
    }

    [Fact]
    public void Rx_drop_every_third_applies_to_what_the_guest_hears()
    {
        using var bus = new FaultTestBus(receiverFaults: "rx:drop-every=3");
        bus.SendNumbered(30);
        List<CanFrame> received = Drain(bus.Receiver);
        Assert.Equal(Enumerable.Range(0, 30).Where(i => (i + 1) % 3 != 0).Select(Numbered), received);
        Assert.Equal(10, bus.Receiver.Counts.RxDropped);
        Assert.Equal(0, bus.Sender.Counts.Total);
    }

    [Fact]
    public void A_seeded_percentage_picks_the_same_frames_each_run_and_others_for_another_seed()
    {
        const int Frames = 4000;
        using var first = new FaultTestBus(senderFaults: "tx:drop=30%,seed=42");
        using var second = new FaultTestBus(senderFaults: "tx:drop=30%,seed=42");
        using var other = new FaultTestBus(senderFaults: "tx:drop=30%,seed=43");
        List<CanFrame> a = RunOnce(first, Frames), b = RunOnce(second, Frames), c = RunOnce(other, Frames);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        // Binomial(4000, 0.3): mean 1200, standard deviation 29; five deviations either way.
        long dropped = first.Sender.Counts.TxDropped;
        Assert.InRange(dropped, 1200 - 145, 1200 + 145);
        Assert.Equal(Frames - a.Count, dropped);
    }

    private static List<CanFrame> RunOnce(FaultTestBus bus, int frames)
    {
        var received = new List<CanFrame>();
        for (int start = 0; start < frames; start += 500)
        {
            var batch = Enumerable.Range(start, 500).Select(i => CanFrame.Classic(0x100, false, BitConverter.GetBytes(i))).ToArray();
            for (int i = 0; i < batch.Length; i += 16)
            {
                int n = Math.Min(16, batch.Length - i);
                Assert.Equal(n, bus.Sender.TransmitBatch(batch.AsSpan(i, n), out _));
            }
            received.AddRange(Drain(bus.Receiver));
        }
        return received;
    }

    [Fact]
    public void Duplicate_every_second_delivers_it_twice_back_to_back()
    {
        using var bus = new FaultTestBus(receiverFaults: "rx:duplicate-every=2");
        bus.SendNumbered(6);
        List<CanFrame> received = Drain(bus.Receiver);
        Assert.Equal(new[] { 0, 1, 1, 2, 3, 3, 4, 5, 5 }.Select(Numbered), received);
        Assert.Equal(3, bus.Receiver.Counts.RxDuplicated);
    }

    [Fact]
    public void Tx_duplicate_puts_both_copies_on_the_bus()
    {
        using var bus = new FaultTestBus(senderFaults: "tx:duplicate=100%");
        bus.SendNumbered(3);
        Assert.Equal(new[] { 0, 0, 1, 1, 2, 2 }.Select(Numbered), Drain(bus.Receiver));
        Assert.Equal(3, bus.Sender.Counts.TxDuplicated);
    }

    [Fact]
    public void A_bit_flip_changes_exactly_one_data_bit_and_never_the_identifier()
    {
        using var bus = new FaultTestBus(senderFaults: "tx:flip-bit=100%,seed=7");
        var sent = Enumerable.Range(0, 200).Select(i => i % 2 == 0
            ? CanFrame.Classic((uint)(0x100 + i), false, [1, 2, 3, (byte)i])
            : CanFrame.Fd((uint)(0x10000 + i), true, Enumerable.Range(0, 64).Select(b => (byte)b).ToArray())).ToArray();
        foreach (CanFrame frame in sent) Assert.Equal(TransmitStatus.Sent, bus.Sender.Transmit(frame));
        // A remote frame has no data bit to flip: it passes unchanged and is not counted.
        Assert.Equal(TransmitStatus.Sent, bus.Sender.Transmit(CanFrame.Remote(0x7FF, false, 8)));
        List<CanFrame> received = Drain(bus.Receiver);
        Assert.Equal(201, received.Count);
        for (int i = 0; i < sent.Length; i++)
        {
            Assert.Equal(sent[i].CanId, received[i].CanId);
            Assert.Equal(sent[i].Len, received[i].Len);
            Assert.Equal(sent[i].Flags, received[i].Flags);
            int differing = 0;
            for (int b = 0; b < sent[i].Length; b++) differing += System.Numerics.BitOperations.PopCount((uint)(sent[i].Data[b] ^ received[i].Data[b]));
            Assert.Equal(1, differing);
        }
        Assert.Equal(CanFrame.Remote(0x7FF, false, 8), received[200]);
        Assert.Equal(200, bus.Sender.Counts.TxBitFlipped);
    }

    [Fact]
    public void Refused_frames_are_rejected_so_the_device_answers_not_ok_and_never_reach_the_bus()
    {
        using var bus = new FaultTestBus(senderFaults: "tx:refuse-every=4");
        var statuses = Enumerable.Range(0, 12).Select(i => bus.Sender.Transmit(Numbered(i))).ToArray();
        // Rejected: "cannot go out, do not retry": CanDevice.SendBatch completes the request NOT_OK.
        Assert.Equal(Enumerable.Range(0, 12).Select(i => (i + 1) % 4 == 0 ? TransmitStatus.Rejected : TransmitStatus.Sent), statuses);
        Assert.Equal(new[] { 0, 1, 2, 4, 5, 6, 8, 9, 10 }.Select(Numbered), Drain(bus.Receiver));
        Assert.Equal(3, bus.Sender.Counts.TxRefused);
    }

    [Fact]
    public void A_batch_stops_at_a_refused_frame_as_the_transport_contract_says()
    {
        using var bus = new FaultTestBus(senderFaults: "tx:refuse-every=3");
        CanFrame[] frames = Enumerable.Range(0, 5).Select(Numbered).ToArray();
        Assert.Equal(2, bus.Sender.TransmitBatch(frames, out TransmitStatus status));
        Assert.Equal(TransmitStatus.Rejected, status);
        Assert.Equal(2, bus.Sender.TransmitBatch(frames.AsSpan(3), out status));
        Assert.Equal(TransmitStatus.Sent, status);
        Assert.Equal(new[] { 0, 1, 3, 4 }.Select(Numbered), Drain(bus.Receiver));
    }

    [Fact]
    public void No_rules_pass_everything_through_and_leave_nothing_readable()
    {
        using var bus = new FaultTestBus();
        Assert.False(IsReadable(bus.Receiver.PollFd));
        bus.SendNumbered(20);
        Assert.True(IsReadable(bus.Receiver.PollFd));
        Assert.Equal(Enumerable.Range(0, 20).Select(Numbered), Drain(bus.Receiver));
        Assert.False(IsReadable(bus.Receiver.PollFd));
        Assert.False(IsReadable(bus.Sender.PollFd));
        Assert.Equal(default, bus.Sender.Counts);
    }

    [Fact]
    public void Without_rules_the_inner_back_pressure_wakes_the_sender_through_the_layers_write_fd()
    {
        var bus = new VirtualCanBus("faults-" + Guid.NewGuid().ToString("N"));
        using var sender = new FaultInjectingTransport(bus.Join());
        using var receiver = bus.Join(inboxCapacity: 4);
        CanFrame[] frames = Enumerable.Range(0, 6).Select(Numbered).ToArray();
        int sent = sender.TransmitBatch(frames, out TransmitStatus status);
        Assert.Equal((4, TransmitStatus.WouldBlock), (sent, status));
        Assert.False(IsReadable(sender.WritePollFd));
        Assert.Equal(4, Drain(receiver).Count);
        // The receiver drained: the bus fires the sender's retry timer, seen through the layer.
        Assert.True(WaitReadable(sender.WritePollFd, 5000), "the sender is never told to retry");
        Assert.Equal(2, sender.TransmitBatch(frames.AsSpan(4), out status));
        Assert.Equal(TransmitStatus.Sent, status);
        Assert.Equal(new[] { 4, 5 }.Select(Numbered), Drain(receiver));
    }
}
