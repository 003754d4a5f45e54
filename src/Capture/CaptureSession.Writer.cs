using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace VhostDeviceCan.Capture;

public sealed partial class CaptureSession
{
    /// <summary>The writer thread: drain, merge, encode, write; flush and sleep when every ring is empty.</summary>
    private void Run()
    {
        try
        {
            while (true)
            {
                // Read before draining: once Stop has detached and set it, one more empty drain
                // proves every record published before the detach is written.
                bool stopping = _stopping;
                if (Drain() > 0) continue;
                if (stopping) break;
                _output.Flush();
                _wake.AnnounceSleep();
                if (Drain() > 0 || _stopping) continue;
                _wake.Sleep(IdleWait);
            }
            WriteTrailer();
            _output.Flush();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or NotSupportedException or UnauthorizedAccessException)
        {
            // The file system or the reader failed: stop recording, the devices carry on.
            _error = e;
            Detach();
            _logger.LogDebug("capture of {Target}: output failed: {Error}", Target, e.Message);
        }
        finally
        {
            try
            {
                _output.Dispose();
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or NotSupportedException)
            {
                _error ??= e;
            }
            _ended.Set();
        }
    }

    /// <summary>Takes up to a chunk from every ring and writes them in time stamp order; returns how many.</summary>
    private int Drain()
    {
        int total = 0;
        for (int r = 0; r < _rings.Length; r++)
        {
            _chunkCounts[r] = _rings[r].Read(_chunks[r]);
            _chunkNext[r] = 0;
            total += _chunkCounts[r];
        }
        if (total == 0) return 0;
        while (true)
        {
            // A merge of a few sorted runs: each ring is in its device's time order.
            int best = -1;
            long bestTime = long.MaxValue;
            for (int r = 0; r < _rings.Length; r++)
            {
                if (_chunkNext[r] == _chunkCounts[r]) continue;
                long time = _chunks[r][_chunkNext[r]].Timestamp;
                if (best < 0 || time < bestTime)
                {
                    best = r;
                    bestTime = time;
                }
            }
            if (best < 0) break;
            Emit(in _chunks[best][_chunkNext[best]++], best);
        }
        Interlocked.Add(ref _recordedTotal, total);
        return total;
    }

    private void Emit(in CaptureRecord record, int interfaceIndex)
    {
        int length = _encoder.Encode(_scratch, in record, interfaceIndex, EpochNanoseconds(record.Timestamp));
        if (_output.WouldExceed(length + _encoder.TrailerLength) && _output.FileLength > _headerLength)
        {
            WriteTrailer();
            _output.Rotate();
            WriteHeader();
        }
        _scratch.AsSpan(0, length).CopyTo(_output.GetSpan(length));
        _output.Advance(length);
        _recorded[interfaceIndex]++;
    }

    private void WriteHeader()
    {
        _encoder.WriteHeader(_output);
        _headerLength = _output.FileLength;
    }

    private void WriteTrailer()
    {
        Span<long> dropped = stackalloc long[_rings.Length];
        for (int i = 0; i < _rings.Length; i++) dropped[i] = _rings[i].Dropped;
        _encoder.WriteTrailer(_output, _recorded, dropped, _startNanoseconds, EpochNanoseconds(Stopwatch.GetTimestamp()));
    }

    /// <summary>On Linux the stopwatch counts nanoseconds already (CLOCK_MONOTONIC); elsewhere, scaled.</summary>
    private long EpochNanoseconds(long timestamp) => _ticksAreNanoseconds
        ? _startNanoseconds + (timestamp - _startTicks)
        : _startNanoseconds + (long)((Int128)(timestamp - _startTicks) * 1_000_000_000 / Stopwatch.Frequency);
}
