using System.Collections.Concurrent;
using VhostDeviceCan.Can;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Device.Tests;

/// <summary>
/// An in-memory <see cref="ICanTransport"/> whose every behaviour the test controls: FD support,
/// the confirmation model, back-pressure, the bus state and the outcomes it reports, right or
/// wrong. Its <see cref="PollFd"/> and <see cref="WritePollFd"/> are real eventfds, so the device's
/// event loop waits on them exactly as it waits on a CAN socket. The device calls it from its loop
/// thread (or the test's own, with <see cref="SyncDevice"/>); the test from its own.
/// </summary>
public sealed class TestTransport : ICanTransport
{
    /// <summary>Writing this to an eventfd fills its counter: it stops being writable (EPOLLOUT).</summary>
    private const ulong EventFdFull = 0xfffffffffffffffe;

    private readonly EventFd _readable = new();
    private readonly EventFd _writable = new();
    private readonly ConcurrentQueue<CanFrame> _incoming = new();
    private readonly ConcurrentQueue<CanFrame> _sent = new();
    private readonly ConcurrentQueue<TxTag> _sentTags = new();
    // Tags of frames sent and not yet echoed, oldest first: what Confirm echoes.
    private readonly ConcurrentQueue<TxTag> _unechoed = new();
    private readonly ConcurrentQueue<TxOutcome> _outcomes = new();
    private readonly object _gate = new();
    private int _transmitCalls;
    private int _receiveCalls;
    private volatile bool _blocked;
    private volatile CanBusState _busState = CanBusState.Active;

    public TestTransport(bool supportsFd = true, TxConfirmation confirmation = TxConfirmation.AtTransmit, bool holdsBackSenders = false)
    {
        SupportsFd = supportsFd;
        Confirmation = confirmation;
        HoldsBackSenders = holdsBackSenders;
    }

    /// <summary>As the virtual bus when true: frames left here wait without loss.</summary>
    public bool HoldsBackSenders { get; }

    /// <summary>Injected frames the device has not taken yet.</summary>
    public int Pending => _incoming.Count;

    /// <summary>Calls of Receive, so a test can see a busy loop.</summary>
    public int ReceiveCalls => Volatile.Read(ref _receiveCalls);

    public string Name => "test-transport";
    public bool SupportsFd { get; }
    public TxConfirmation Confirmation { get; }
    public int PollFd => _readable.Fd;
    public int WritePollFd => _writable.Fd;
    public CanBusState BusState => _busState;

    /// <summary>Calls of Transmit, sent or not, so a test can see a busy loop.</summary>
    public int TransmitCalls => Volatile.Read(ref _transmitCalls);

    /// <summary>Frames the device handed over, in order.</summary>
    public IReadOnlyCollection<CanFrame> Sent => _sent;

    /// <summary>The tag of each frame in <see cref="Sent"/>, in the same order.</summary>
    public IReadOnlyList<TxTag> SentTags => [.. _sentTags];

    /// <summary>Signalled after each Transmit call (sent or not).</summary>
    public SemaphoreSlim TransmitSignal { get; } = new(0);

    /// <summary>Set each time Receive found nothing left for the device.</summary>
    public AutoResetEvent Drained { get; } = new(false);

    /// <summary>A frame from another bus member; the device's loop wakes on <see cref="PollFd"/>.</summary>
    /// <summary>What the transport reports as dropped before the device could take it.</summary>
    public long Dropped { get; set; }

    public void Inject(in CanFrame frame)
    {
        _incoming.Enqueue(frame);
        _readable.Signal();
    }

    /// <summary>Injects frames and waits until the device has taken all of them from the transport.</summary>
    public void InjectAndWaitDrained(params CanFrame[] frames)
    {
        Drained.Reset();
        foreach (var frame in frames) Inject(frame);
        Assert.True(WaitDrained(), "the device did not read the injected frames");
    }

    /// <summary>Waits until a Receive found nothing left. The device may still be handling what that
    /// call returned: follow with a round trip on the device's own thread (a config read) to see its effect.</summary>
    public bool WaitDrained(TimeSpan? timeout = null)
    {
        DateTime deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(5));
        while (true)
        {
            TimeSpan left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !Drained.WaitOne(left)) return false;
            if (_incoming.IsEmpty && _outcomes.IsEmpty) return true;
        }
    }

    /// <summary>Echoes the <paramref name="count"/> oldest frames not echoed yet (Deferred), as a
    /// CAN socket does once the interface sent them: they are reported confirmed by their tags.</summary>
    public void Confirm(int count)
    {
        for (int i = 0; i < count; i++)
        {
            Assert.True(_unechoed.TryDequeue(out TxTag tag), $"only {i} of {count} frames are waiting for an echo");
            _outcomes.Enqueue(new TxOutcome(tag, Confirmed: true));
        }
        _readable.Signal();
    }

    /// <summary>Reports exactly these outcomes at the next Receive, whatever was sent: a scripted
    /// transport that confirms out of order, twice, late, or tags it never saw.</summary>
    public void Report(params TxOutcome[] outcomes)
    {
        foreach (var outcome in outcomes) _outcomes.Enqueue(outcome);
        _readable.Signal();
    }

    /// <summary>While blocked, Transmit answers WouldBlock and the write fd is not writable.</summary>
    public void Block()
    {
        lock (_gate)
        {
            _blocked = true;
            _writable.Consume();
            _writable.Signal(EventFdFull);
        }
    }

    /// <summary>Accepts frames again and makes the write fd writable, which wakes the device.</summary>
    public void Unblock()
    {
        lock (_gate)
        {
            _blocked = false;
            _writable.Consume();
        }
    }

    /// <summary>Changes the bus state and wakes the device through its readable fd, as a CAN socket
    /// does with an error frame or a link change.</summary>
    public void SetBusState(CanBusState state)
    {
        // A controller going bus-off (or an interface going down) drops its queue: frames sent
        // so far will never be echoed, unlike frames a STOP merely stopped waiting for.
        if (state != CanBusState.Active) _unechoed.Clear();
        _busState = state;
        _readable.Signal();
    }

    public TransmitStatus Transmit(in CanFrame frame, TxTag tag)
    {
        Interlocked.Increment(ref _transmitCalls);
        TransmitStatus status;
        if (_busState == CanBusState.Down) status = TransmitStatus.Down;
        else if (_blocked) status = TransmitStatus.WouldBlock;
        else
        {
            _sent.Enqueue(frame);
            _sentTags.Enqueue(tag);
            if (Confirmation == TxConfirmation.Deferred) _unechoed.Enqueue(tag);
            status = TransmitStatus.Sent;
        }
        TransmitSignal.Release();
        return status;
    }

    public int Receive(Span<CanFrame> frames, Span<TxOutcome> outcomes, out int outcomeCount)
    {
        Interlocked.Increment(ref _receiveCalls);
        // Consume before draining: a frame injected after this point signals again.
        _readable.Consume();
        outcomeCount = 0;
        while (outcomeCount < outcomes.Length && _outcomes.TryDequeue(out TxOutcome outcome)) outcomes[outcomeCount++] = outcome;
        int count = 0;
        while (count < frames.Length && _incoming.TryDequeue(out CanFrame frame)) frames[count++] = frame;
        if (!_incoming.IsEmpty || !_outcomes.IsEmpty) _readable.Signal();
        else Drained.Set();
        return count;
    }

    /// <summary>Waits until Transmit has been called at least <paramref name="calls"/> times in all.</summary>
    public bool WaitForTransmitCalls(int calls, TimeSpan? timeout = null)
    {
        DateTime deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(5));
        while (TransmitCalls < calls)
        {
            TimeSpan left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !TransmitSignal.Wait(left)) return TransmitCalls >= calls;
        }
        return true;
    }

    public void Dispose()
    {
        _readable.Dispose();
        _writable.Dispose();
        TransmitSignal.Dispose();
        Drained.Dispose();
    }
}
