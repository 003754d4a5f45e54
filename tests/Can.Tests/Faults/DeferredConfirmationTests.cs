using VhostDeviceCan.Can.Faults;
using VhostDeviceCan.Interop;
using static VhostDeviceCan.Can.Tests.Faults.FaultTestBus;

namespace VhostDeviceCan.Can.Tests.Faults;

/// <summary>With LATE_TX_ACK (a transport that confirms later, like SocketCAN) every request the
/// device counts as sent must get an outcome, or it would wait until STOP.</summary>
public class DeferredConfirmationTests
{
    /// <summary>Records what is sent; confirms nothing by itself. Its fds are real eventfds.</summary>
    private sealed class ConfirmingLater : ICanTransport
    {
        private readonly EventFd _readable = new();
        private readonly EventFd _writable = new();
        public List<(CanFrame Frame, TxTag Tag)> Sent { get; } = [];
        public string Name => "later";
        public bool SupportsFd => true;
        public TxConfirmation Confirmation => TxConfirmation.Deferred;
        public int PollFd => _readable.Fd;
        public int WritePollFd => _writable.Fd;
        public CanBusState BusState => CanBusState.Active;

        public TransmitStatus Transmit(in CanFrame frame, TxTag tag)
        {
            Sent.Add((frame, tag));
            return TransmitStatus.Sent;
        }

        public int Receive(Span<CanFrame> frames, Span<TxOutcome> outcomes, out int outcomeCount)
        {
            outcomeCount = 0;
            return 0;
        }

        public void Dispose()
        {
            _readable.Dispose();
            _writable.Dispose();
        }
    }

    [Fact]
    public void A_dropped_frame_is_confirmed_by_the_fault_layer_and_never_sent()
    {
        var inner = new ConfirmingLater();
        using var faults = new FaultInjectingTransport(inner, Rules("tx:drop-every=2"));
        for (ulong i = 1; i <= 4; i++) Assert.Equal(TransmitStatus.Sent, faults.Transmit(Numbered((int)i), new TxTag(i)));
        Assert.Equal(new ulong[] { 1, 3 }, inner.Sent.Select(s => s.Tag.Value));

        Assert.True(IsReadable(faults.PollFd), "the made-up outcomes do not wake the device");
        var outcomes = new TxOutcome[1];
        Assert.Equal(0, faults.Receive(new CanFrame[8], outcomes, out int count));
        Assert.Equal(1, count);
        Assert.Equal(new TxOutcome(new TxTag(2), true), outcomes[0]);
        // The span was full: still readable for the rest.
        Assert.True(IsReadable(faults.PollFd));
        Assert.Equal(0, faults.Receive(new CanFrame[8], outcomes, out count));
        Assert.Equal((1, new TxOutcome(new TxTag(4), true)), (count, outcomes[0]));
        Assert.Equal(0, faults.Receive(new CanFrame[8], outcomes, out count));
        Assert.Equal(0, count);
        Assert.False(IsReadable(faults.PollFd));
    }

    [Fact]
    public void Delayed_frames_keep_their_tags_for_the_inner_transports_confirmation()
    {
        var inner = new ConfirmingLater();
        using var faults = new FaultInjectingTransport(inner, Rules("tx:delay=10ms"));
        Assert.Equal(TransmitStatus.Sent, faults.Transmit(Numbered(1), new TxTag(7)));
        Assert.Empty(inner.Sent);
        Assert.True(WaitReadable(faults.PollFd, 5000));
        Assert.Equal(0, faults.Receive(new CanFrame[8], new TxOutcome[8], out _));
        Assert.Equal(new[] { (Numbered(1), new TxTag(7)) }, inner.Sent);
    }
}
