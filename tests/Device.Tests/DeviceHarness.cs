using Microsoft.Extensions.Logging;
using VhostDeviceCan.Backend;
using VhostDeviceCan.Can;
using VhostDeviceCan.Guest;
using VhostDeviceCan.Interop;
using VhostDeviceCan.VhostUser;

namespace VhostDeviceCan.Device.Tests;

/// <summary>
/// A <see cref="CanDevice"/> served by the real runtime (a <see cref="DeviceServer"/> on a listening
/// Unix socket in the temp directory) over a <see cref="TestTransport"/>, and
/// guests that connect to it over that socket with memfd RAM and eventfds, as a VMM does.
/// A test that must show something does NOT happen uses <see cref="SyncDevice"/> instead, where
/// that is a check of state rather than a wait that proves nothing when the event comes late.
/// </summary>
public sealed class DeviceHarness : IDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    private readonly DeviceServer _server;
    private readonly List<VirtioCanGuest> _guests = [];

    public DeviceHarness(TestTransport? transport = null, CanDeviceOptions? options = null)
    {
        Transport = transport ?? new TestTransport();
        SocketPath = Path.Combine(Path.GetTempPath(), $"vdc-dev-{Guid.NewGuid():N}.sock");
        Device = new CanDevice(Transport, options);
        Log = new RecordingLogger(LogLevel.Debug);
        _server = DeviceServer.Listen(SocketPath, Device, Log, new DeviceServerOptions { Name = "can-test" }, Transport);
    }

    public TestTransport Transport { get; }
    public CanDevice Device { get; }
    public DeviceEventLoop Loop => _server.Loop;
    public RecordingLogger Log { get; }
    public string SocketPath { get; }
    public CanDeviceCounters Counters => Device.Counters;

    public VirtioCanGuest Connect(VirtioCanGuestOptions? options = null)
    {
        var guest = VirtioCanGuest.Connect(SocketPath, options);
        _guests.Add(guest);
        return guest;
    }

    /// <summary>A guest with the controller started.</summary>
    public VirtioCanGuest ConnectStarted(VirtioCanGuestOptions? options = null)
    {
        var guest = Connect(options);
        Assert.True(guest.Start(Timeout), "START was refused");
        return guest;
    }

    /// <summary>A guest acking exactly these virtio-can feature bits (of those offered).</summary>
    public VirtioCanGuest ConnectStarted(params int[] canFeatures)
    {
        ulong bits = 0;
        foreach (int bit in canFeatures) bits |= VirtioFeatures.Bit(bit);
        return ConnectStarted(new VirtioCanGuestOptions { CanFeatures = bits });
    }

    /// <summary>
    /// Returns once the device's loop has finished whatever it was doing: a GET_CONFIG is served on
    /// the same thread, after every event that was already pending.
    /// </summary>
    public static void Settle(VirtioCanGuest guest) => guest.ReadStatus();

    /// <summary>Takes <paramref name="count"/> TX completions (results in completion order) or fails.</summary>
    public static byte[] CollectTx(VirtioCanGuest guest, int count)
    {
        var results = new List<byte>();
        Span<byte> batch = stackalloc byte[64];
        DateTime deadline = DateTime.UtcNow + Timeout;
        while (results.Count < count)
        {
            int got = guest.CollectTxCompletions(batch);
            for (int i = 0; i < got; i++) results.Add(batch[i]);
            if (got > 0) continue;
            TimeSpan left = deadline - DateTime.UtcNow;
            Assert.True(left > TimeSpan.Zero && guest.WaitForTx(left), $"only {results.Count} of {count} TX completions arrived");
        }
        return [.. results];
    }

    /// <summary>Receives exactly <paramref name="count"/> frames or fails.</summary>
    public static List<CanFrame> ReceiveFrames(VirtioCanGuest guest, int count)
    {
        var frames = new List<CanFrame>();
        var batch = new CanFrame[64];
        DateTime deadline = DateTime.UtcNow + Timeout;
        while (frames.Count < count)
        {
            TimeSpan left = deadline - DateTime.UtcNow;
            Assert.True(left > TimeSpan.Zero, $"only {frames.Count} of {count} frames arrived");
            int got = guest.Receive(batch.AsSpan(0, Math.Min(batch.Length, count - frames.Count)), left);
            frames.AddRange(batch.AsSpan(0, got).ToArray());
        }
        return frames;
    }

    public void Dispose()
    {
        foreach (var guest in _guests) guest.Dispose();
        Assert.True(_server.Stop(TimeSpan.FromSeconds(10)), "the event loop did not stop");
        _server.Dispose();
    }
}
