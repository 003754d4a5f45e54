using VhostDeviceCan.EchoDeviceHost;
using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Backend.Tests;

/// <summary>An echo device that also watches one eventfd of its own (the first device token);
/// what happens when that fd fires is the test's.</summary>
internal abstract class EchoDeviceWithFd(EchoDevice echo) : IVhostUserDevice, IDisposable
{
    public EventFd Fd { get; } = new();

    public int QueueCount => echo.QueueCount;
    public ushort MaxQueueSize => echo.MaxQueueSize;
    public ulong Features => echo.Features;

    public void Attach(IDeviceContext context)
    {
        echo.Attach(context);
        context.RegisterFd(Fd.Fd, DeviceEventLoop.FirstDeviceToken, Libc.EPOLLIN);
    }

    public abstract void HandleEvent(ulong token, uint events);

    public void FeaturesAcked(ulong features) => echo.FeaturesAcked(features);
    public void ReadConfig(uint offset, Span<byte> destination) => echo.ReadConfig(offset, destination);
    public bool WriteConfig(uint offset, ReadOnlySpan<byte> data) => echo.WriteConfig(offset, data);
    public void QueueStarted(int index) => echo.QueueStarted(index);
    public void QueueKicked(int index) => echo.QueueKicked(index);
    public void QueueStopping(int index) => echo.QueueStopping(index);
    public void Reset() => echo.Reset();

    public virtual void Dispose() => Fd.Dispose();
}
