using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Backend;
using VhostDeviceCan.EchoDeviceHost;

// Usage: echo-device-host SOCKET_PATH [QUEUES]
// Serves an echo device until SIGTERM/SIGINT; prints "ready" once listening.
if (args.Length < 1)
{
    Console.Error.WriteLine("usage: echo-device-host SOCKET_PATH [QUEUES]");
    return 2;
}
string path = args[0];
int queues = args.Length > 1 ? int.Parse(args[1]) : 2;
using var loggerFactory = LoggerFactory.Create(b => b
    .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; })
    .SetMinimumLevel(Environment.GetEnvironmentVariable("ECHO_LOG") == "trace" ? LogLevel.Trace : LogLevel.Information));
var device = new EchoDevice(queues);
using var stop = new ManualResetEventSlim();
using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Set(); });
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Set(); });
var server = DeviceServer.Listen(path, device, loggerFactory.CreateLogger("echo"), new DeviceServerOptions { Name = "echo" });
Console.WriteLine("ready");
Console.Out.Flush();
stop.Wait();
server.Dispose();
Console.WriteLine($"stopped after {server.Loop.SessionCount} session(s), {device.Completed} chain(s)");
return 0;
