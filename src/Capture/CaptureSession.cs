using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace VhostDeviceCan.Capture;

/// <summary>What a capture wrote when it ended.</summary>
/// <param name="Recorded">Frames written.</param>
/// <param name="Dropped">Frames lost because the writer fell behind (a full ring); never more than that.</param>
/// <param name="Files">Files written (more than one after rotation).</param>
/// <param name="Error">Why it ended by itself (the file or stream failed), or null.</param>
public readonly record struct CaptureSummary(long Recorded, long Dropped, int Files, Exception? Error);

/// <summary>
/// One running capture: a ring per watched device and a writer thread that drains them, merges
/// them by time stamp, encodes and writes. Started by <see cref="CaptureHub.Start"/>; stopped,
/// from any thread, by <see cref="Stop"/>, which detaches from the devices, writes what the rings
/// still hold, closes the file and returns the counts. It also ends by itself when writing fails.
/// </summary>
public sealed partial class CaptureSession : IDisposable
{
    /// <summary>How long the writer sleeps when every ring is empty: the latency of a live view,
    /// and a bound on its wake-ups (100 a second) while the bus is quiet.</summary>
    private static readonly TimeSpan IdleWait = TimeSpan.FromMilliseconds(10);
    private const int ChunkSize = 1024;

    /// <summary>How long a stop waits for the writer before it aborts a stream whose reader stopped
    /// reading (<see cref="CaptureDestination.Abort"/>).</summary>
    public static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(1);

    private readonly IReadOnlyList<CapturePoint> _points;
    private readonly CaptureRing[] _rings;
    private readonly CaptureEncoder _encoder;
    private readonly CaptureOutput _output;
    private readonly ILogger _logger;
    private readonly long[] _recorded;
    private readonly CaptureRecord[][] _chunks;
    private readonly int[] _chunkCounts;
    private readonly int[] _chunkNext;
    private readonly byte[] _scratch;
    private readonly WriterWake _wake = new();
    private readonly ManualResetEventSlim _ended = new();
    private readonly Thread _thread;
    private readonly long _startTicks;
    private readonly long _startNanoseconds;
    private readonly bool _ticksAreNanoseconds;
    private readonly Lock _stopLock = new();
    private long _headerLength;
    private volatile bool _stopping;
    private long _recordedTotal;
    private bool _detached;
    private bool _stopReported;
    private Exception? _error;

    internal CaptureSession(string target, IReadOnlyList<CapturePoint> points, CaptureFormat format, CaptureDestination destination,
        ILogger logger, int ringCapacity)
    {
        Target = target;
        Format = format;
        Destination = destination;
        _points = points;
        _logger = logger;
        _encoder = CaptureFormats.CreateEncoder(format, points);
        _rings = [.. points.Select((_, i) => new CaptureRing(i, ringCapacity, _wake))];
        _recorded = new long[points.Count];
        _chunks = [.. points.Select(_ => new CaptureRecord[ChunkSize])];
        _chunkCounts = new int[points.Count];
        _chunkNext = new int[points.Count];
        _scratch = new byte[_encoder.MaxRecordLength];
        // One wall-clock reading, then the device loops' cheap monotonic stamps measured from it.
        _startTicks = Stopwatch.GetTimestamp();
        _startNanoseconds = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;
        _ticksAreNanoseconds = Stopwatch.Frequency == 1_000_000_000;
        // Opening and the header happen here, so that a file that cannot be written fails the start.
        _output = new CaptureOutput(destination);
        try
        {
            WriteHeader();
            _output.Flush();
        }
        catch
        {
            _output.Dispose();
            throw;
        }
        _thread = new Thread(Run) { IsBackground = true, Name = "capture" };
        _thread.Start();
        for (int i = 0; i < points.Count; i++) points[i].Tap.AttachCapture(_rings[i]);
    }

    /// <summary>What was asked for: <c>vbus:default</c>, <c>0</c>, <c>all</c>.</summary>
    public string Target { get; }
    public CaptureFormat Format { get; }
    public CaptureDestination Destination { get; }
    public IReadOnlyList<CapturePoint> Interfaces => _points;

    public bool IsRunning => !_ended.IsSet;

    /// <summary>Frames written so far; any thread.</summary>
    public long Recorded => Interlocked.Read(ref _recordedTotal);

    /// <summary>Frames lost so far because a ring was full; any thread.</summary>
    public long Dropped => _rings.Sum(r => r.Dropped);

    /// <summary>Waits until the capture has ended (stopped, or its output failed).</summary>
    public bool WaitForEnd(TimeSpan timeout) => _ended.Wait(timeout);

    /// <summary>Detaches from the devices, writes what the rings still hold and the statistics,
    /// closes the output; idempotent and safe from any thread but the writer's own.</summary>
    public CaptureSummary Stop()
    {
        lock (_stopLock)
        {
            Detach();
            _stopping = true;
            _wake.Wake();
            if (!_thread.Join(StopGrace) && Destination.Abort is { } abort)
            {
                _logger.LogDebug("capture of {Target}: {Destination} takes nothing; letting it go", Target, Destination);
                abort();
            }
            _thread.Join();
            var summary = new CaptureSummary(Recorded, Dropped, _output.Files, _error);
            if (!_stopReported)
            {
                _stopReported = true;
                Report(summary);
            }
            return summary;
        }
    }

    public void Dispose()
    {
        Stop();
        _wake.Dispose();
    }

    private void Detach()
    {
        if (_detached) return;
        _detached = true;
        for (int i = 0; i < _points.Count; i++) _points[i].Tap.DetachCapture(_rings[i]);
    }

    private void Report(in CaptureSummary summary)
    {
        if (summary.Error is { } error)
            _logger.LogError("capture of {Target} to {Destination} ended: {Error}; {Recorded} frames written", Target, Destination, error.Message, summary.Recorded);
        else if (summary.Dropped > 0)
            _logger.LogWarning("capture of {Target} to {Destination} stopped: {Recorded} frames written, {Dropped} lost (the writer fell behind), {Files} file(s)",
                Target, Destination, summary.Recorded, summary.Dropped, summary.Files);
        else
            _logger.LogInformation("capture of {Target} to {Destination} stopped: {Recorded} frames written, none lost, {Files} file(s)",
                Target, Destination, summary.Recorded, summary.Files);
    }
}
