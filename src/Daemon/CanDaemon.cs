using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Backend;
using VhostDeviceCan.Can;
using VhostDeviceCan.Device;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon;

/// <summary>One device, one listening socket and one event-loop thread per guest; runs until
/// SIGINT or SIGTERM, then settles in-flight work, removes the socket files and returns 0.</summary>
public static class CanDaemon
{
    /// <summary>Linux x86-64/arm64 signal number; PosixSignal accepts raw numbers on Unix.</summary>
    private const PosixSignal SIGUSR1 = (PosixSignal)10;
    private const PosixSignal SIGUSR2 = (PosixSignal)12;

    public static int Run(DaemonOptions options)
    {
        using ILoggerFactory loggers = LoggerFactory.Create(builder => builder
            .AddProvider(new StderrLoggerProvider(options.LogLevel))
            .SetMinimumLevel(options.LogLevel));
        ILogger log = loggers.CreateLogger("vhost-device-can");

        var instances = new List<Instance>();
        try
        {
            for (int i = 0; i < options.SocketCount; i++)
                instances.Add(Instance.Start(options.SocketName(i), options.SocketFds.Count > 0 ? options.SocketFds[i] : -1,
                    options.Devices[i], new CanDeviceOptions
                {
                    OfferFd = options.OfferFd,
                    TxFilter = options.TxFilter(i),
                    RxFilter = options.RxFilter(i),
                    TxRate = options.TxRateOf(i),
                }, options.BusyPoll, options.AllowUnsealedMemory, loggers));
        }
        catch (Exception e) when (e is SyscallException or IOException or ArgumentException)
        {
            // Like a bad command line: one line on stderr, where a user or a service manager looks.
            Console.Error.WriteLine($"vhost-device-can: error: {e.Message}");
            foreach (var instance in instances) instance.StopAndJoin();
            return 1;
        }

        using var stopped = new ManualResetEventSlim();
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            log.LogInformation("{Signal}: shutting down", context.Signal);
            stopped.Set();
        }
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        // SIGUSR1 puts every virtual-bus device's controller bus-off (fault injection; see
        // VirtualCanBusMember.InjectBusOff). Without a handler the signal would kill the daemon.
        using var busOff = PosixSignalRegistration.Create(SIGUSR1, context =>
        {
            context.Cancel = true;
            foreach (var instance in instances)
            {
                if (instance.InjectBusOff())
                    log.LogWarning("SIGUSR1: {Path}: controller on {Device} forced bus-off", instance.Path, instance.Spec);
                else
                    log.LogInformation("SIGUSR1: {Path}: {Device} is a host interface; its bus state is the interface's own", instance.Path, instance.Spec);
            }
        });

        // SIGUSR2 logs every device's state and counters: what an operator asks a running daemon.
        using var report = PosixSignalRegistration.Create(SIGUSR2, context =>
        {
            context.Cancel = true;
            foreach (var instance in instances)
                log.LogInformation("SIGUSR2: {Path} on {Device}: {State}", instance.Path, instance.Spec, instance.Describe());
        });

        for (int i = 0; i < instances.Count; i++)
        {
            log.LogInformation("listening on {Path} for a guest on {Device}", instances[i].Path, instances[i].Spec);
            if (options.TxFilter(i) is { } tx) log.LogInformation("{Path}: the guest may send only IDs {Filter}", instances[i].Path, tx);
            if (options.TxRateOf(i) is { } rate) log.LogInformation("{Path}: the guest transmits at most {Rate}", instances[i].Path, rate);
            if (options.RxFilter(i) is { } rx) log.LogInformation("{Path}: the guest receives only IDs {Filter}", instances[i].Path, rx);
        }
        if (options.BusyPoll > TimeSpan.Zero)
            log.LogInformation("busy polling for {Microseconds} µs after each event: lower latency, more CPU while traffic flows",
                options.BusyPoll.TotalMicroseconds);
        if (options.AllowUnsealedMemory)
            log.LogWarning("unsealed guest memory is allowed: a front-end that shrinks such memory kills this daemon and every guest's device");
        SystemdNotify.Ready();
        stopped.Wait();

        foreach (var instance in instances) instance.StopAndJoin();
        return 0;
    }

    private sealed class Instance
    {
        private readonly DeviceEventLoop _loop;
        private readonly Thread _thread;
        private readonly UnixSocket _listener;
        private readonly CanDevice _device;
        private readonly ICanTransport _transport;

        private Instance(string path, bool inherited, DeviceSpec spec, UnixSocket listener, ICanTransport transport, CanDevice device, DeviceEventLoop loop)
        {
            Path = path;
            _inherited = inherited;
            Spec = spec;
            _listener = listener;
            _transport = transport;
            _device = device;
            _loop = loop;
            _thread = new Thread(Run) { Name = $"can{path[^1]}", IsBackground = true };
        }

        /// <summary>The socket's path, or "fd N" when it was inherited.</summary>
        public string Path { get; }
        public DeviceSpec Spec { get; }
        private readonly bool _inherited;

        /// <summary>Listens on <paramref name="path"/>, or serves <paramref name="inheritedFd"/> when it is not -1.</summary>
        public static Instance Start(string path, int inheritedFd, DeviceSpec spec, CanDeviceOptions deviceOptions, TimeSpan busyPoll,
            bool allowUnsealedMemory, ILoggerFactory loggers)
        {
            ICanTransport transport = TransportFactory.Open(spec);
            UnixSocket? listener = null;
            try
            {
                if (inheritedFd >= 0)
                {
                    listener = UnixSocket.FromListeningFd(inheritedFd);
                }
                else
                {
                    RemoveStaleSocket(path);
                    listener = UnixSocket.Listen(path);
                }
                string name = inheritedFd >= 0 ? $"fd{inheritedFd}" : System.IO.Path.GetFileName(path);
                var device = new CanDevice(transport, deviceOptions);
                var loop = new DeviceEventLoop(device, listener, loggers.CreateLogger(name), name)
                {
                    BusyPoll = busyPoll,
                    AllowUnsealedMemory = allowUnsealedMemory,
                };
                var instance = new Instance(path, inheritedFd >= 0, spec, listener, transport, device, loop);
                instance._thread.Start();
                return instance;
            }
            catch
            {
                listener?.Dispose();
                transport.Dispose();
                throw;
            }
        }

        private void Run() => _loop.Run();

        /// <summary>Forces the controller bus-off if the device is on a virtual bus; any thread.</summary>
        public bool InjectBusOff()
        {
            if (_transport is not VirtualCanBusMember member) return false;
            member.InjectBusOff();
            return true;
        }

        /// <summary>Connection, controller state and counters; from any thread (values may be a moment old).</summary>
        public string Describe() =>
            $"{(_loop.IsConnected ? "guest connected" : "no guest")}, controller {(_device.IsStarted ? "started" : "stopped")}; {_device.Counters}";

        public void StopAndJoin()
        {
            _loop.Stop();
            _thread.Join();
            _loop.Dispose();
            _device.Dispose();
            _transport.Dispose();
            _listener.Dispose();
            // An inherited socket's file belongs to whoever created it (systemd removes its own).
            if (!_inherited) File.Delete(Path);
        }

        /// <summary>A socket file left by a killed daemon makes bind fail with EADDRINUSE. Connecting
        /// tells the cases apart: refused means nobody listens (stale, removed); accepted means
        /// another back-end serves it (an error); anything else is left for bind to report.</summary>
        private static void RemoveStaleSocket(string path)
        {
            if (!File.Exists(path)) return;
            try
            {
                using var probe = UnixSocket.Connect(path);
            }
            catch (SyscallException e) when (e.ErrorNumber == Errno.ECONNREFUSED)
            {
                File.Delete(path);
                return;
            }
            catch (SyscallException)
            {
                return;
            }
            throw new IOException($"{path} is in use by another running back-end");
        }
    }
}
