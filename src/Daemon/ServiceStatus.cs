using Microsoft.Extensions.Logging;
using VhostDeviceCan.Backend;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon;

/// <summary>
/// What the service manager hears (Type=notify): READY=1 once every socket listens, STATUS= with
/// the guests connected whenever one connects or leaves (what <c>systemctl status</c> shows), and
/// STOPPING=1 when the daemon shuts down. Messages go out under one lock, so the last STATUS= the
/// manager gets always describes the present, whichever loop thread reported a change.
/// </summary>
internal sealed class ServiceStatus(ILogger log)
{
    private readonly Lock _gate = new();
    private readonly List<DeviceEventLoop> _loops = [];
    private bool _ready;
    private bool _stopping;
    private bool _failureLogged;

    public void Add(DeviceEventLoop loop)
    {
        lock (_gate) _loops.Add(loop);
    }

    /// <summary>A <see cref="DeviceEventLoop.ConnectionChanged"/> handler: runs on that loop's thread.</summary>
    public void OnConnectionChanged(DeviceEventLoop loop)
    {
        lock (_gate)
        {
            // Before READY=1 the start-up message carries the status; after STOPPING=1 it is final.
            if (_ready && !_stopping) Send($"STATUS={Describe()}");
        }
    }

    public void Ready()
    {
        lock (_gate)
        {
            _ready = true;
            Send($"READY=1\nSTATUS={Describe()}");
        }
    }

    public void Stopping()
    {
        lock (_gate)
        {
            _stopping = true;
            Send("STOPPING=1\nSTATUS=shutting down");
        }
    }

    /// <summary>"1 of 2 guests connected: can.sock0".</summary>
    public string Describe()
    {
        lock (_gate)
        {
            var connected = _loops.Where(l => l.HasFrontend).Select(l => l.Name).ToList();
            string text = $"{connected.Count} of {_loops.Count} guest{(_loops.Count == 1 ? "" : "s")} connected";
            return connected.Count == 0 ? text : $"{text}: {string.Join(", ", connected)}";
        }
    }

    private void Send(string message)
    {
        int errno = SystemdNotify.Send(message);
        if (errno == 0 || _failureLogged) return;
        // systemd times out a start it never hears about; saying why once is enough.
        _failureLogged = true;
        log.LogWarning("cannot notify the service manager at {Socket}: {Error}", SystemdNotify.Target, Errno.Describe(errno));
    }
}
