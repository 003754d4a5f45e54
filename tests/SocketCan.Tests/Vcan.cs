using System.Diagnostics;
using System.Runtime.InteropServices;
using VhostDeviceCan.Interop;

// Every test uses the same vcan0/vcan1 and some take an interface down: running them one at a
// time keeps one test's frames out of another's sockets.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace VhostDeviceCan.SocketCan.Tests;

/// <summary>Access to the kernel's vcan interfaces that tests/uml/uml-run.sh creates, plus can-utils.</summary>
internal static unsafe class Vcan
{
    public const string Missing = "AF_CAN is not available on this kernel: run these tests inside UML (tests/uml/uml-run.sh)";

    /// <summary>Opens a socket; without AF_CAN the test fails (never passes vacuously) and says where to run it.</summary>
    public static CanSocket Open(string interfaceName = "vcan0")
    {
        try
        {
            return CanSocket.Open(interfaceName);
        }
        catch (SyscallException e) when (e.ErrorNumber == Errno.EAFNOSUPPORT)
        {
            Assert.Fail($"{Missing} ({e.Message})");
            throw;
        }
    }

    /// <summary>For tests that change interfaces before opening a socket: fail first with the AF_CAN hint.</summary>
    public static void RequireAfCan() => Open().Dispose();

    public static byte[] Classic(uint canId, params byte[] data)
    {
        var frame = new Libc.CanFrame { CanId = canId, Length = (byte)data.Length };
        data.CopyTo(new Span<byte>(frame.Data, Libc.CAN_MAX_DLEN));
        return MemoryMarshal.AsBytes(new ReadOnlySpan<Libc.CanFrame>(ref frame)).ToArray();
    }

    public static byte[] Fd(uint canId, byte flags, params byte[] data)
    {
        var frame = new Libc.CanFdFrame { CanId = canId, Length = (byte)data.Length, Flags = flags };
        data.CopyTo(new Span<byte>(frame.Data, Libc.CANFD_MAX_DLEN));
        return MemoryMarshal.AsBytes(new ReadOnlySpan<Libc.CanFdFrame>(ref frame)).ToArray();
    }

    /// <summary>Waits until the socket is readable, then receives one batch. Fails after the timeout.</summary>
    public static int ReceiveBatch(CanSocket socket, CanReceiveBuffer buffer, int timeoutMs = 5000)
    {
        using var epoll = new Epoll();
        epoll.Add(socket.Fd, token: 1);
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];
        var clock = Stopwatch.StartNew();
        while (clock.ElapsedMilliseconds < timeoutMs)
        {
            epoll.Wait(events, timeoutMs: 100);
            int errno = socket.Receive(buffer, out int count);
            Assert.True(errno == 0, Errno.Format($"receive on {socket.InterfaceName}", errno));
            if (count > 0) return count;
        }
        Assert.Fail($"no frame arrived on {socket.InterfaceName} within {timeoutMs} ms");
        return 0;
    }

    /// <summary>Whether the socket becomes readable (a frame or a socket error) within the timeout.</summary>
    public static bool Readable(CanSocket socket, int timeoutMs)
    {
        using var epoll = new Epoll();
        epoll.Add(socket.Fd, token: 1);
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];
        return epoll.Wait(events, timeoutMs) > 0;
    }

    /// <summary>Receives exactly one frame (failing if the batch holds more) and returns it.</summary>
    public static (byte[] Frame, int Flags) ReceiveOne(CanSocket socket, CanReceiveBuffer buffer)
    {
        int count = ReceiveBatch(socket, buffer);
        Assert.Equal(1, count);
        return (buffer.Frame(0).ToArray(), buffer.MessageFlags(0));
    }

    /// <summary>Receives until at least <paramref name="expected"/> frames came; returns each one's ID and whether it was a confirmation.</summary>
    public static List<(uint Id, bool Confirmation)> Collect(CanSocket socket, CanReceiveBuffer buffer, int expected)
    {
        var frames = new List<(uint, bool)>();
        while (frames.Count < expected)
        {
            int count = ReceiveBatch(socket, buffer);
            for (int i = 0; i < count; i++) frames.Add((buffer.CanId(i), buffer.IsConfirmation(i)));
        }
        return frames;
    }

    public static uint CanIdOf(ReadOnlySpan<byte> frame) => MemoryMarshal.Read<uint>(frame);

    public static void SendOk(CanSocket socket, byte[] frame)
    {
        int errno = socket.Send(frame);
        Assert.True(errno == 0, Errno.Format($"send on {socket.InterfaceName}", errno));
    }

    /// <summary>Runs a tool to completion and returns its stdout; fails on a non-zero exit or a hang.</summary>
    public static string Run(string program, params string[] arguments)
    {
        var (exitCode, output, error) = RunToEnd(program, arguments);
        Assert.True(exitCode == 0, $"{program} {string.Join(' ', arguments)} exited {exitCode}: {error}");
        return output;
    }

    /// <summary>Runs a tool to completion and returns its exit code, whatever it is.</summary>
    public static int TryRun(string program, params string[] arguments) => RunToEnd(program, arguments).ExitCode;

    private static (int ExitCode, string Output, string Error) RunToEnd(string program, string[] arguments)
    {
        using var process = Start(program, arguments);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(30_000))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{program} {string.Join(' ', arguments)} did not finish within 30 s");
        }
        return (process.ExitCode, output.GetAwaiter().GetResult(), error.GetAwaiter().GetResult());
    }

    public static Process Start(string program, params string[] arguments)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        return Process.Start(info) ?? throw new InvalidOperationException($"could not start {program}");
    }

    /// <summary>Sets an interface up or down with iproute2, the way an administrator (or a driver) would.</summary>
    public static void SetLink(string interfaceName, string state) => Run("ip", "link", "set", interfaceName, state);
}
