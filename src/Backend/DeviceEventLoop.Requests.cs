using System.Collections.Concurrent;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Backend;

public sealed partial class DeviceEventLoop
{
    /// <summary>Work other threads asked this loop to run (a control request changing a device).</summary>
    private readonly ConcurrentQueue<LoopRequest> _requests = new();
    /// <summary>Readable while <see cref="_requests"/> may hold work; in the loop's epoll set.</summary>
    private readonly EventFd _requestSignal = new();

    /// <summary>
    /// Runs <paramref name="work"/> on this loop's thread, between events, and returns its result;
    /// any thread but the loop's own. A device is single-threaded, so this is the one way to change
    /// it at run time. The caller waits at most <paramref name="timeout"/>: a request the loop has
    /// not begun by then is withdrawn (it never runs) and a <see cref="TimeoutException"/> says so,
    /// so a stuck or stopped loop fails the caller instead of hanging it. What the work throws is
    /// rethrown here, wrapped in an <see cref="InvalidOperationException"/>.
    /// </summary>
    public T Invoke<T>(Func<T> work, TimeSpan timeout)
    {
        var request = new LoopRequest<T>(work);
        _requests.Enqueue(request);
        _requestSignal.Signal();
        if (!request.Done.Wait(timeout))
        {
            if (request.Withdraw())
                throw new TimeoutException($"{Name}: the device's event loop did not take the request within {timeout.TotalMilliseconds:0} ms");
            // Begun just before the deadline: it gets as long again to finish, and its result counts.
            if (!request.Done.Wait(timeout))
                throw new TimeoutException($"{Name}: the device's event loop began the request but did not finish it within {2 * timeout.TotalMilliseconds:0} ms");
        }
        request.Done.Dispose();
        if (request.Failure is { } failure) throw new InvalidOperationException(failure.Message, failure);
        return request.Result!;
    }

    /// <summary>Loop thread: runs every queued request.</summary>
    private void RunRequests()
    {
        _requestSignal.Consume();
        while (_requests.TryDequeue(out LoopRequest? request)) request.Run();
    }

    private abstract class LoopRequest
    {
        private const int Pending = 0, Begun = 1, Withdrawn = 2;
        private int _state;

        public ManualResetEventSlim Done { get; } = new();
        public Exception? Failure { get; protected set; }

        /// <summary>Caller's side, after its deadline: true when the loop had not begun the work.</summary>
        public bool Withdraw() => Interlocked.CompareExchange(ref _state, Withdrawn, Pending) == Pending;

        public void Run()
        {
            if (Interlocked.CompareExchange(ref _state, Begun, Pending) != Pending) return;
            try
            {
                Execute();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Failure = e;
            }
            Done.Set();
        }

        protected abstract void Execute();
    }

    private sealed class LoopRequest<T>(Func<T> work) : LoopRequest
    {
        public T? Result { get; private set; }
        protected override void Execute() => Result = work();
    }
}
