using Microsoft.Extensions.Logging;
using VhostDeviceCan.Backend;
using VhostDeviceCan.EchoDeviceHost;
using VhostDeviceCan.Interop;

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
File.Delete(path);
using var listener = UnixSocket.Listen(path);
var device = new EchoDevice(queues);
using var loop = new DeviceEventLoop(device, listener, loggerFactory.CreateLogger("echo"), "echo");
using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(
    System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; loop.Stop(); });
using var interrupt = System.Runtime.InteropServices.PosixSignalRegistration.Create(
    System.Runtime.InteropServices.PosixSignal.SIGINT, c => { c.Cancel = true; loop.Stop(); });
Console.WriteLine("ready");
Console.Out.Flush();
loop.Run();
File.Delete(path);
Console.WriteLine($"stopped after {loop.SessionCount} session(s), {device.Completed} chain(s)");
return 0;
