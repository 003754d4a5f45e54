using VhostDeviceCan.Can;
using VhostDeviceCan.Capture;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Control.Replay;

/// <summary>How a log is played: <see cref="Speed"/> scales its time (2 = twice as fast);
/// <see cref="Fast"/> ignores it and sends as fast as the bus takes frames; <see cref="Passes"/>
/// times through the file, 0 for ever.</summary>
public sealed record ReplayOptions(double Speed = 1, bool Fast = false, int Passes = 1, string? Interface = null);

/// <summary>
/// One candump log played onto a virtual bus from a thread of its own. It is a member of the bus
/// (a host node): onto the bus every other member hears its frames; into one guest
/// (<c>target</c> a guest's bus member) only that guest does, as if the bus had carried them.
/// Frame k is due at start + (t_k − t_0) / speed on CLOCK_MONOTONIC and waited for with an
/// absolute timerfd deadline, so lateness never adds up from frame to frame; frames already due
/// go out together, in file order, with the bus's back-pressure (a full inbox makes the replay
/// wait, never lose the frame, until the bus's overrun bound gives up on that member).
/// </summary>
public sealed partial class ReplaySession : IDisposable
{
    /// <summary>Frames handed to the bus at once when several are due (or in --fast).</summary>
    private const int Batch = 64;

    /// <summary>A frame sent more than this after its due time counts as late.</summary>
    public static readonly long LateNanoseconds = 1_000_000;

    private const ulong ExitToken = 0, TimerToken = 1, InboxToken = 2, RetryToken = 3;

    private readonly FileDescriptor _file;
    private readonly CandumpLogReader _reader;
    private readonly VirtualCanBusMember _member;
    private readonly VirtualCanBusMember? _guest;
    private readonly Epoll _epoll = new();
    private readonly TimerFd _timer = new();
    private readonly EventFd _exit = new();
    private readonly Thread _thread;
    private readonly CanFrame[] _batch = new CanFrame[Batch];
    private readonly long[] _due = new long[Batch];
    private readonly TxTag[] _tags = new TxTag[Batch];
    private readonly CanFrame[] _heard = new CanFrame[Batch];
    private readonly TxOutcome[] _outcomes = new TxOutcome[Batch];
    private volatile bool _stopRequested;
    private int _disposed;

    /// <param name="file">The log, owned (closed) by the session.</param>
    /// <param name="bus">The bus it plays onto.</param>
    /// <param name="guest">The one member that hears it, or null for every member of <paramref name="bus"/>.</param>
    public ReplaySession(int id, string target, FileDescriptor file, long framesPerPass, VirtualCanBus bus, VirtualCanBusMember? guest, ReplayOptions options)
    {
        Id = id;
        Target = target;
        Options = options;
        FramesPerPass = framesPerPass;
        _file = file;
        _reader = new CandumpLogReader(file, options.Interface);
        _guest = guest;
        _member = bus.Join();
        _epoll.Add(_exit.Fd, ExitToken);
        _epoll.Add(_timer.Fd, TimerToken);
        _epoll.Add(_member.PollFd, InboxToken);
        _epoll.Add(_member.WritePollFd, RetryToken, _member.WritePollEvents);
        _thread = new Thread(Run) { Name = $"replay-{id}", IsBackground = true };
    }

    public int Id { get; }
    public string Target { get; }
    public ReplayOptions Options { get; }
    public long FramesPerPass { get; }

    /// <summary>Called once, from the replay's thread, when it has ended (any reason).</summary>
    public Action<ReplaySession>? Ended { get; set; }

    public void Start() => _thread.Start();

    /// <summary>Any thread: ends the replay after the frame it is sending.</summary>
    public void Stop()
    {
        _stopRequested = true;
        _exit.SignalUnlessDisposed();
    }

    private void Run()
    {
        string reason = "done";
        try
        {
            reason = Play();
        }
        catch (CandumpLogException e)
        {
            reason = $"stopped at {e.Message}";
        }
        catch (SyscallException e)
        {
            reason = $"stopped: {e.Message}";
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            reason = $"stopped: {e.Message}";
        }
        finally
        {
            // The member belongs to this thread: it leaves the bus here, so no sender waits for it any more.
            _member.Dispose();
            _file.Dispose();
            _epoll.Dispose();
            _timer.Dispose();
            _exit.Dispose();
            Finish(reason);
            Ended?.Invoke(this);
        }
    }

    /// <summary>The replay proper; returns why it ended.</summary>
    private string Play()
    {
        long start = TimerFd.MonotonicNow();
        Started(start);
        long passStart = start, first = -1, previous = 0, firstGap = 0, lastDue = start;
        bool pending = false;
        long pendingDue = 0;
        CanFrame pendingFrame = default;
        int pass = 0, inPass = 0;
        while (!_stopRequested)
        {
            long now = TimerFd.MonotonicNow();
            int count = 0;
            while (count < Batch)
            {
                if (!pending)
                {
                    if (!_reader.TryRead(out long stamp, out pendingFrame)) break;
                    if (first < 0) first = previous = stamp;
                    // A time stamp before the previous one (clock set back while recording) is a gap of 0.
                    if (stamp < previous) stamp = previous;
                    previous = stamp;
                    long offset = Scale(stamp - first);
                    if (pass == 0 && inPass == 1) firstGap = offset;
                    inPass++;
                    pendingDue = Options.Fast ? 0 : passStart + offset;
                    pending = true;
                }
                if (pendingDue > now) break;
                _batch[count] = pendingFrame;
                _due[count] = pendingDue;
                count++;
                pending = false;
            }
            if (count > 0)
            {
                if (!Send(count)) return _stopRequested ? "stopped" : "the target left the bus";
                if (!Options.Fast) lastDue = _due[count - 1];
                continue;
            }
            if (!pending)
            {
                pass++;
                Passed(pass);
                if (Options.Passes != 0 && pass >= Options.Passes) return "done";
                _reader.Rewind();
                // The next pass follows the last frame's due time by the log's first gap, as a loop would.
                passStart = Options.Fast ? 0 : Math.Max(lastDue + firstGap, 0);
                first = -1;
                inPass = 0;
                continue;
            }
            _timer.ArmAt(pendingDue);
            Wait();
        }
        return "stopped";
    }

    private long Scale(long nanoseconds) => Options.Speed == 1 ? nanoseconds : (long)(nanoseconds / Options.Speed);

    /// <summary>Sends the batch, waiting for room as long as the bus holds it back; false when the
    /// replay was stopped or its target is gone.</summary>
    private bool Send(int count)
    {
        int sent = 0;
        while (sent < count)
        {
            ReadOnlySpan<CanFrame> frames = _batch.AsSpan(sent, count - sent);
            TransmitStatus status;
            int now = _guest is null
                ? _member.TransmitBatch(frames, _tags.AsSpan(sent, count - sent), out status)
                : _member.TransmitTo(_guest, frames, out status);
            if (now > 0) Sent(_due.AsSpan(sent, now), TimerFd.MonotonicNow());
            sent += now;
            if (status == TransmitStatus.Down) return false;
            if (sent < count)
            {
                if (_stopRequested) return false;
                Wait();
            }
        }
        return true;
    }

    /// <summary>Sleeps until the timer fires, the retry fires, the inbox has frames to throw away, or a stop.</summary>
    private void Wait()
    {
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[4];
        int ready = _epoll.Wait(events, -1);
        for (int i = 0; i < ready; i++)
        {
            switch (events[i].Data)
            {
                case TimerToken:
                    _timer.Consume();
                    break;
                case InboxToken:
                    // What other members send reaches this member too; a replay hears nothing, and must not be the full inbox that holds them back.
                    while (_member.Receive(_heard, _outcomes, out _) > 0) { }
                    break;
            }
        }
    }

    /// <summary>Stops the replay and waits for its thread (not from the replay's own thread).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Stop();
        if (_thread.ThreadState != ThreadState.Unstarted)
        {
            _thread.Join();
            return;
        }
        _member.Dispose();
        _file.Dispose();
        _epoll.Dispose();
        _timer.Dispose();
        _exit.Dispose();
    }
}
