using VhostDeviceCan.CommandLine;
using Microsoft.Win32.SafeHandles;
using System.Runtime.InteropServices;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Simulator;

/// <summary>
/// <c>dump</c>: prints what one guest receives, in candump's columns or (<c>-L</c>) in its log
/// format, until COUNT frames, an idle timeout, a signal, a closed stdout or the daemon going away.
/// </summary>
internal static class DumpCommand
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(200);

    public static int Run(string socket, int count, double timeoutSeconds, bool logFormat, TimestampMode timestamps)
    {
        var format = new DumpFormat(Path.GetFileName(socket), logFormat, timestamps);
        using var guest = DaemonConnection.Connect(socket);
        if (!guest.Start()) return Commands.Refuse("the device refused START");
        Console.Error.WriteLine($"vhost-can-sim: listening on {socket}");
        using var stop = new CancellationTokenSource();
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        using var hangUp = HangUpWatch(guest);
        // Buffered: one write per batch of frames, not per line. A FileStream on fd 1 rather than
        // the console stream, which swallows EPIPE: dump must learn that its reader has gone.
        using var output = new StreamWriter(new FileStream(new SafeFileHandle(1, ownsHandle: false), FileAccess.Write, 1)) { AutoFlush = false };
        Span<CanFrame> frames = new CanFrame[64];
        Span<Libc.EpollEvent> hungUp = stackalloc Libc.EpollEvent[1];
        DateTime lastFrame = DateTime.UtcNow;
        int printed = 0;
        while (!stop.IsCancellationRequested && (count <= 0 || printed < count))
        {
            int received = guest.Receive(frames, Poll);
            if (received > 0)
            {
                lastFrame = DateTime.UtcNow;
                try
                {
                    for (int i = 0; i < received && (count <= 0 || printed < count); i++, printed++)
                        output.WriteLine(format.Line(frames[i], lastFrame));
                    output.Flush();
                }
                catch (IOException)
                {
                    // The reader went away (`dump | head -1`): nothing left to print to, no error to report.
                    return ExitStatus.Ok;
                }
                continue;
            }
            // The daemon never writes to this socket unasked, so readable here means it closed it.
            if (hangUp.Wait(hungUp, 0) > 0)
                throw new CommandFailure(ExitStatus.ConnectionLost, $"{socket}: the daemon closed the connection (did it exit?)");
            if (timeoutSeconds > 0 && DateTime.UtcNow - lastFrame >= TimeSpan.FromSeconds(timeoutSeconds)) break;
        }
        guest.Stop();
        if (count > 0 && printed < count)
            return Commands.Refuse($"{printed} of {count} frames received before {timeoutSeconds} s passed without one");
        return ExitStatus.Ok;
    }

    private static Epoll HangUpWatch(VirtioCanGuest guest)
    {
        var epoll = new Epoll();
        epoll.Add(guest.Frontend.Client.Socket.Fd, 0, Libc.EPOLLIN | Libc.EPOLLRDHUP);
        return epoll;
    }
}
