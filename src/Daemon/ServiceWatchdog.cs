using Microsoft.Extensions.Logging;
using VhostDeviceCan.Backend;

namespace VhostDeviceCan.Daemon;

/// <summary>
/// The service manager's watchdog (WatchdogSec=): WATCHDOG=1 four times per timeout, but only
/// while every device's event loop proves it still turns. Each round asks each loop for a
/// liveness answer (an eventfd in its epoll set); the next round pings systemd only if every loop
/// answered in between. A loop stuck in a handler thus stops the pings, and systemd restarts the
/// daemon, where a timer thread alone would keep a wedged daemon "alive". Idle loops wake once
/// per round, a few times per timeout, and not at all without a watchdog.
/// </summary>
internal sealed class ServiceWatchdog : IDisposable
{
    /// <summary>Rounds per timeout: sd_watchdog_enabled(3) asks for a ping every half timeout at
    /// least; a quarter leaves a loop one whole round to answer and still pings in time.</summary>
    private const int RoundsPerTimeout = 4;

    private readonly IReadOnlyList<DeviceEventLoop> _loops;
    private readonly TimeSpan _round;
    private readonly ILogger _log;
    private readonly ManualResetEventSlim _stop = new();
    private readonly Thread _thread;

    private ServiceWatchdog(IReadOnlyList<DeviceEventLoop> loops, TimeSpan timeout, ILogger log)
    {
        _loops = loops;
        _round = timeout / RoundsPerTimeout;
        _log = log;
        _thread = new Thread(Run) { Name = "watchdog", IsBackground = true };
        _thread.Start();
    }

    /// <summary>Starts pinging when systemd asked for a watchdog (<see cref="SystemdNotify.WatchdogTimeout"/>); else null.</summary>
    public static ServiceWatchdog? Start(IReadOnlyList<DeviceEventLoop> loops, ILogger log)
    {
        if (SystemdNotify.WatchdogTimeout() is not { } timeout) return null;
        log.LogInformation("watchdog: every event loop answers within {Seconds} s or the service manager restarts the daemon",
            timeout.TotalSeconds);
        return new ServiceWatchdog(loops, timeout, log);
    }

    private void Run()
    {
        var asked = new long[_loops.Count];
        var silent = new bool[_loops.Count];
        AskAll(asked);
        while (!_stop.Wait(_round))
        {
            bool allAnswered = true;
            for (int i = 0; i < _loops.Count; i++)
            {
                bool answered = _loops[i].LivenessAcks > asked[i];
                if (answered && silent[i])
                    _log.LogWarning("watchdog: {Name}: the event loop answers again", _loops[i].Name);
                else if (!answered && !silent[i])
                    _log.LogError("watchdog: {Name}: the event loop has not answered for {Milliseconds} ms; the service manager is no longer told the daemon is alive",
                        _loops[i].Name, _round.TotalMilliseconds);
                silent[i] = !answered;
                allAnswered &= answered;
            }
            if (allAnswered) SystemdNotify.Send("WATCHDOG=1");
            AskAll(asked);
        }
    }

    private void AskAll(long[] asked)
    {
        for (int i = 0; i < _loops.Count; i++)
        {
            asked[i] = _loops[i].LivenessAcks;
            _loops[i].RequestLivenessAck();
        }
    }

    /// <summary>Stops the pings; call before the loops are disposed (their eventfds close with them).</summary>
    public void Dispose()
    {
        _stop.Set();
        _thread.Join();
        _stop.Dispose();
    }
}
