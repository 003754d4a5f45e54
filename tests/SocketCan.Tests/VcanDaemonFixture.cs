using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;

namespace VhostDeviceCan.SocketCan.Tests;

/// <summary>One published daemon for a whole test class, its devices on the host interfaces named.</summary>
public abstract class VcanDaemonFixture(string devices) : IDisposable
{
    private DaemonProcess? _daemon;

    // Started on first use, so that a kernel without AF_CAN fails each test with the UML hint
    // instead of a fixture error.
    public DaemonProcess Daemon => _daemon ??= Start();

    private DaemonProcess Start()
    {
        Vcan.RequireAfCan();
        return DaemonProcess.Start(devices.Split(' ').Length, ["-d", devices]);
    }

    public void Dispose() => _daemon?.Dispose();
}

/// <summary>Device 0 on vcan0, device 1 on vcan1.</summary>
public sealed class DaemonFixture() : VcanDaemonFixture("vcan0 vcan1");

/// <summary>Both devices on vcan0: <c>-c 2 -d "vcan0 vcan0"</c>.</summary>
public sealed class SharedInterfaceFixture() : VcanDaemonFixture("vcan0 vcan0");

/// <summary>Frames the end-to-end tests send, in cansend syntax.</summary>
internal static class TestFrames
{
    /// <summary>Classic, extended, remote and FD with BRS (which virtio-can cannot carry: it goes
    /// out and arrives as plain FD).</summary>
    public static readonly string[] Kinds =
    [
        "123#DEADBEEF",
        "1F334455#0102030405060708",
        "2A0#R4",
        "321##1" + string.Concat(Enumerable.Range(0, 64).Select(i => i.ToString("X2"))),
    ];

    public static CanFrame Parse(string text)
    {
        Assert.True(CansendSyntax.TryParse(text, out CanFrame frame, out string? error), error);
        return frame;
    }
}
