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
    public static int Run(DaemonOptions options)
    {
        using ILoggerFactory loggers = LoggerFactory.Create(builder => builder
            .AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            })
            .SetMinimumLevel(options.LogLevel));
        ILogger log = loggers.CreateLogger("vhost-device-can");

        var instances = new List<Instance>();
        try
        {
            for (int i = 0; i < options.SocketCount; i++)
                instances.Add(Instance.Start(options.SocketPath(i), options.Devices[i], new CanDeviceOptions { OfferFd = options.OfferFd }, loggers));
        }
        catch (Exception e) when (e is SyscallException or IOException or ArgumentException)
        {
            log.LogCritical("{Reason}", e.Message);
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

        foreach (var instance in instances)
            log.LogInformation("listening on {Path} for a guest on {Device}", instance.Path, instance.Spec);
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

        private Instance(string path, DeviceSpec spec, UnixSocket listener, ICanTransport transport, CanDevice device, DeviceEventLoop loop)
        {
            Path = path;
            Spec = spec;
            _listener = listener;
            _transport = transport;
            _device = device;
            _loop = loop;
            _thread = new Thread(Run) { Name = $"can{path[^1]}", IsBackground = true };
        }

        public string Path { get; }
        public DeviceSpec Spec { get; }

        public static Instance Start(string path, DeviceSpec spec, CanDeviceOptions deviceOptions, ILoggerFactory loggers)
        {
            ICanTransport transport = TransportFactory.Open(spec);
            UnixSocket? listener = null;
            try
            {
                RemoveStaleSocket(path);
                listener = UnixSocket.Listen(path);
                var device = new CanDevice(transport, deviceOptions);
                var loop = new DeviceEventLoop(device, listener, loggers.CreateLogger($"{System.IO.Path.GetFileName(path)}"), System.IO.Path.GetFileName(path));
                var instance = new Instance(path, spec, listener, transport, device, loop);
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

        public void StopAndJoin()
        {
            _loop.Stop();
            _thread.Join();
            _loop.Dispose();
            _device.Dispose();
            _transport.Dispose();
            _listener.Dispose();
            File.Delete(Path);
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
