using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Device.Metrics;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon.Bridges;

/// <summary>
/// What every bridge kind shares: a thread of its own waiting on an epoll set of its own, an
/// eventfd (token <see cref="StopToken"/>) that stops it on dispose, and the counters it reports.
/// A kind registers its descriptors with tokens above the stop token and does its work in
/// <see cref="HandleEvent"/>. An error that ends the thread is logged, never thrown: the daemon
/// and its other bridges go on.
/// </summary>
public abstract class BridgeThread<TSpec, TCounters> : IBridge
    where TSpec : BridgeSpec
    where TCounters : BridgeFrameCounters
{
    private protected const ulong StopToken = 0;

    private protected readonly TSpec _spec;
    private protected readonly ILogger _log;
    private protected readonly Epoll _epoll = new();
    private readonly EventFd _stop = new();
    private readonly Thread _thread;
    private readonly int _eventsPerWait;

    private protected BridgeThread(TSpec spec, TCounters counters, ILogger log, string threadName, int eventsPerWait)
    {
        _spec = spec;
        _log = log;
        _eventsPerWait = eventsPerWait;
        Counters = counters;
        _epoll.Add(_stop.Fd, StopToken);
        _thread = new Thread(Run) { Name = threadName, IsBackground = true };
    }

    public BridgeSpec Spec => _spec;
    public abstract string Endpoint { get; }
    public TCounters Counters { get; }
    public abstract bool PeerUp { get; }
    public virtual string Peer => Endpoint;
    public void ReadCounters(List<BridgeCounter> counters) => Counters.Report(counters);

    /// <summary>Stops the thread (after <see cref="Stopping"/> ran on it), then closes the kind's
    /// descriptors and the epoll set.</summary>
    public void Dispose()
    {
        _stop.Signal();
        _thread.Join();
        ReleaseDescriptors();
        _epoll.Dispose();
        _stop.Dispose();
    }

    /// <summary>Makes the bridge with <paramref name="create"/> and starts its thread; when it
    /// cannot be made or started, <paramref name="undo"/> closes what was opened for it.</summary>
    private protected static TBridge Started<TBridge>(Action undo, Func<TBridge> create)
        where TBridge : BridgeThread<TSpec, TCounters>
    {
        try
        {
            TBridge bridge = create();
            bridge._thread.Start();
            return bridge;
        }
        catch
        {
            undo();
            throw;
        }
    }

    /// <summary>A non-blocking TCP listener on <paramref name="endpoint"/>. Address reuse as in
    /// cannelloni and socketcand: a restarted daemon binds again while its old connections sit in
    /// TIME_WAIT.</summary>
    private protected static Socket Listen(IPEndPoint endpoint, int backlog) =>
        Bound(new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp), endpoint, backlog);

    /// <summary>A non-blocking UDP socket bound to <paramref name="endpoint"/>.</summary>
    private protected static Socket BindDatagrams(IPEndPoint endpoint) =>
        Bound(new Socket(endpoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp), endpoint, 0);

    private static Socket Bound(Socket socket, IPEndPoint endpoint, int backlog)
    {
        try
        {
            socket.Blocking = false;
            if (socket.SocketType == SocketType.Stream)
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(endpoint);
            if (socket.SocketType == SocketType.Stream) socket.Listen(backlog);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>One ready descriptor of the kind's, by its token and epoll events.</summary>
    private protected abstract void HandleEvent(ulong token, uint events);

    /// <summary>On the thread, when dispose stops it: the last chance to send what waits.</summary>
    private protected virtual void Stopping()
    {
    }

    /// <summary>On the thread as it ends, whether stopped or failed: what belongs to the thread
    /// (bus members) is let go here.</summary>
    private protected abstract void ThreadEnding();

    /// <summary>After the thread ended: the kind's sockets and timers.</summary>
    private protected abstract void ReleaseDescriptors();

    private void Run()
    {
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[_eventsPerWait];
        try
        {
            while (true)
            {
                int count = _epoll.Wait(events);
                foreach (var ready in events[..count])
                {
                    if (ready.Data == StopToken)
                    {
                        Stopping();
                        return;
                    }
                    HandleEvent(ready.Data, ready.Events);
                }
            }
        }
        catch (Exception e) when (e is SyscallException or SocketException or ObjectDisposedException)
        {
            _log.LogError("bridge {Bridge}: stopped: {Error}", _spec, e.Message);
        }
        finally
        {
            ThreadEnding();
        }
    }
}
