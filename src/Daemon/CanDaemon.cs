using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Backend;
using VhostDeviceCan.Can;
using VhostDeviceCan.Can.Faults;
using VhostDeviceCan.Control;
using VhostDeviceCan.Capture;
using VhostDeviceCan.Device;
using VhostDeviceCan.Device.Metrics;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Daemon;

/// <summary>One device and one listening socket per guest; one event-loop thread per host
/// interface's device and one per virtual bus, shared by its devices; runs until
/// SIGTERM, SIGINT, SIGHUP or SIGQUIT, then settles in-flight work, removes the socket files and
/// returns 0.</summary>
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

        // Bound first: a port in use stops the daemon before any socket file appears.
        MetricsHttpServer? metrics = null;
        if (options.MetricsEndpoint is { } endpoint)
        {
            try
            {
                metrics = MetricsHttpServer.Listen(endpoint, log);
            }
            catch (System.Net.Sockets.SocketException e)
            {
                StartupError.Write($"--metrics {MetricsAddress.Format(endpoint)}: cannot listen: {e.Message} ({e.SocketErrorCode})");
                return 1;
            }
        }
        using var metricsServer = metrics;

        var instances = new List<Instance>();
        var busLoops = new BusLoops(options.BusyPoll, log);
        var service = new ServiceStatus(log);
        using var captures = new CaptureHub(loggers.CreateLogger("capture"));
        try
        {
            // Before any device: a capture file that cannot be written is the one line printed.
            foreach (CaptureOption capture in options.Captures) capture.Destination.CheckWritable();
            for (int i = 0; i < options.SocketCount; i++)
            {
                instances.Add(Instance.Start(i, options.SocketName(i), options.SocketFds.Count > 0 ? options.SocketFds[i] : -1,
                    options.Devices[i], new CanDeviceOptions
                {
                    OfferFd = options.OfferFd,
                    TxFilter = options.TxFilter(i),
                    RxFilter = options.RxFilter(i),
                    TxRate = options.TxRateOf(i),
                }, options.FaultsOf(i), options.BusyPoll, busLoops.For(options.Devices[i]), options.AllowUnsealedMemory, options.SocketAccess,
                    service.OnConnectionChanged, loggers));
                service.Add(instances[i].Loop);
                captures.Add(instances[i].CapturePoint(i));
            }
            foreach (CaptureOption capture in options.Captures) captures.Start(capture.Target, capture.Format, capture.Destination);
        }
        catch (Exception e) when (e is SyscallException or IOException or ArgumentException)
        {
            // Like a bad command line: one line on stderr, where a user or a service manager looks.
            StartupError.Write(e.Message);
            foreach (var instance in instances) instance.StopAndJoin();
            busLoops.Dispose();
            captures.StopAll();
            return 1;
        }

        // After the guests' devices, so a bus's bound (vbus:NAME,overrun-ms=N) is set before a bridge joins it.
        var bridges = new List<Bridges.IBridge>();
        try
        {
            foreach (var spec in options.Bridges)
            {
                var started = spec.Start(loggers.CreateLogger("bridge"), $"bridge{bridges.Count}");
                bridges.Add(started);
                log.LogInformation("bridge {Bridge}: {Endpoint}", spec, started.Endpoint);
            }
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or SyscallException or IOException)
        {
            string reason = e is System.Net.Sockets.SocketException socket ? $"{socket.Message} ({socket.SocketErrorCode})" : e.Message;
            StartupError.Write($"--bridge {options.Bridges[bridges.Count]}: cannot open: {reason}");
            foreach (var started in bridges) started.Dispose();
            foreach (var instance in instances) instance.StopAndJoin();
            busLoops.Dispose();
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
        // Left to their default action these end the process on the spot, socket files left behind.
        // There is no configuration file to reload, and SIGHUP is what a closing terminal sends its
        // jobs: it ends the daemon, as it ends the reference, but cleanly. SIGQUIT (Ctrl-\) likewise,
        // without the core dump a healthy daemon's state would not explain anything.
        using var hangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnSignal);
        using var quit = PosixSignalRegistration.Create(PosixSignal.SIGQUIT, OnSignal);
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
            foreach (var running in bridges)
                log.LogInformation("SIGUSR2: bridge {Bridge}", running);
        });

        // What every reader of the devices' figures renders from (MetricsText.Write): the HTTP endpoint and the control socket.
        GuestMetricsSource[] metricsSources = [.. instances.Select((instance, i) => instance.MetricsSource(i))];
        IBridgeReport[] bridgeReports = [.. bridges];
        byte[] RenderMetrics() => MetricsText.RenderUtf8(metricsSources, bridgeReports);

        // Before the guests' "listening" lines: whoever waits for them finds the control socket too.
        using ControlServer? control = DaemonControl.Start(options, [.. instances.Select((instance, i) => instance.ForControl(i))], captures, RenderMetrics, loggers, bridges);
        if (control is null && options.ControlPath is not null)
        {
            foreach (var running in bridges) running.Dispose();
            foreach (var instance in instances) instance.StopAndJoin();
            return 1;
        }
        for (int i = 0; i < instances.Count; i++)
        {
            log.LogInformation("listening on {Path} for a guest on {Device}", instances[i].Path, instances[i].Spec);
            if (instances[i].Spec.Timing is { } timing)
                log.LogInformation("{Path}: {Device} is timed, {Timing}: frames take their wire time and contend by identifier", instances[i].Path, instances[i].Spec, timing);
            if (options.TxFilter(i) is { } tx) log.LogInformation("{Path}: the guest may send only IDs {Filter}", instances[i].Path, tx);
            if (options.TxRateOf(i) is { } rate) log.LogInformation("{Path}: the guest transmits at most {Rate}", instances[i].Path, rate);
            if (options.RxFilter(i) is { } rx) log.LogInformation("{Path}: the guest receives only IDs {Filter}", instances[i].Path, rx);
            if (instances[i].Faults.Rules.IsActive) log.LogWarning("{Path}: injecting faults: {Faults}", instances[i].Path, instances[i].Faults.Rules);
        }
        if (options.SocketAccess is { } access)
            log.LogInformation("socket files have {Access}", access);
        if (options.BusyPoll > TimeSpan.Zero)
            log.LogInformation("busy polling for {Microseconds} µs after each event: lower latency, more CPU while traffic flows",
                options.BusyPoll.TotalMicroseconds);
        if (options.AllowUnsealedMemory)
            log.LogWarning("unsealed guest memory is allowed: a front-end that shrinks such memory kills this daemon and every guest's device");
        if (metrics is not null)
        {
            metrics.Start(RenderMetrics);
            log.LogInformation("metrics for Prometheus at {Url}", metrics.Url);
        }
        service.Ready();
        using (ServiceWatchdog.Start([.. instances.Select(i => i.Loop)], log)) stopped.Wait();
        service.Stopping();
        metrics?.Dispose();

        // No control request may reach a device that is being torn down.
        control?.Dispose();
        foreach (var running in bridges) running.Dispose();
        foreach (var instance in instances) instance.StopAndJoin();
        busLoops.Dispose();
        // After the devices: their last frames are in the rings, and the files are complete.
        captures.StopAll();
        return 0;
    }

    /// <summary>Socket i's server with the device and transport it owns.</summary>
    private sealed class Instance
    {
        private readonly DeviceServer _server;
        private readonly CanDevice _device;
        private readonly ICanTransport _transport;

        private Instance(string path, DeviceSpec spec, DeviceServer server, CanDevice device, FaultInjectingTransport faults)
        {
            Path = path;
            Spec = spec;
            _server = server;
            _device = device;
            Faults = faults;
            _transport = faults.Inner;
        }

        /// <summary>The fault layer in front of the transport: its rules can be replaced and its
        /// counters read at run time, from any thread.</summary>
        public FaultInjectingTransport Faults { get; }

        /// <summary>The socket's path (an inherited socket's as it is bound), or "fd N" when it has none.</summary>
        public string Path { get; }
        public DeviceSpec Spec { get; }
        public DeviceEventLoop Loop => _server.Loop;

        /// <summary>Serves socket <paramref name="index"/>: listens on <paramref name="path"/>, or serves
        /// <paramref name="inheritedFd"/> when it is not -1.</summary>
        public static Instance Start(int index, string path, int inheritedFd, DeviceSpec spec, CanDeviceOptions deviceOptions,
            FaultRules? faultRules, TimeSpan busyPoll, DeviceLoopGroup? group, bool allowUnsealedMemory, SocketFileAccess? socketAccess,
            Action<DeviceEventLoop> connectionChanged,
            ILoggerFactory loggers)
        {
            ICanTransport inner = TransportFactory.Open(spec);
            FaultInjectingTransport transport;
            CanDevice device;
            try
            {
                // Always present, so that faults can be set at run time on any guest; without rules it
                // passes every call straight through.
                transport = new FaultInjectingTransport(inner, faultRules);
            }
            catch
            {
                inner.Dispose();
                throw;
            }
            try
            {
                device = new CanDevice(transport, deviceOptions);
            }
            catch
            {
                transport.Dispose();
                throw;
            }
            // An inherited socket is named by the path it is bound to, like a created one.
            string name = path.StartsWith("fd ", StringComparison.Ordinal) ? $"fd{inheritedFd}" : System.IO.Path.GetFileName(path);
            // Named by index, not by path or fd: unique with any number of sockets, and short
            // enough for Linux's 15-byte thread names. A virtual bus's devices share its thread.
            var options = new DeviceServerOptions
            {
                Name = name,
                ThreadName = $"can{index}",
                Group = group,
                BusyPoll = busyPoll,
                AllowUnsealedMemory = allowUnsealedMemory,
                SocketAccess = socketAccess,
                ConnectionChanged = connectionChanged,
            };
            ILogger logger = loggers.CreateLogger(name);
            DeviceServer server = inheritedFd >= 0
                ? DeviceServer.Adopt(inheritedFd, device, logger, options, transport)
                : DeviceServer.Listen(path, device, logger, options, transport);
            return new Instance(path, spec, server, device, transport);
        }

        /// <summary>Forces the controller bus-off if the device is on a virtual bus; any thread.</summary>
        public bool InjectBusOff()
        {
            if (_transport is not VirtualCanBusMember member) return false;
            member.InjectBusOff();
            return true;
        }

        /// <summary>Connection, controller state and counters; from any thread (values may be a moment old).</summary>
        public string Describe() =>
            $"{(_server.IsConnected ? "guest connected" : "no guest")}, controller {(_device.IsStarted ? "started" : "stopped")}; {_device.Counters}"
            + (_transport is VirtualCanBusMember member ? $"; {member}" : "")
            + (Faults.Rules.IsActive || Faults.Counts != default ? $"; {Faults}" : "");

        /// <summary>What the metrics endpoint reads of this guest.</summary>
        public GuestMetricsSource MetricsSource(int index) => new(index, Path, _device, () => _server.IsConnected);

        /// <summary>This guest's device as captures name it: guest0, "/tmp/can.sock0 on vbus:default".</summary>
        public CapturePoint CapturePoint(int index) =>
            new($"guest{index}", $"{Path} on {Spec}", Spec.ToString(), index, _device);

        public void StopAndJoin() => _server.Dispose();

        /// <summary>This guest as control commands reach it.</summary>
        public ControlGuest ForControl(int index) => new(index, Path, Spec.ToString(), Loop, _device, Faults);
    }
}
