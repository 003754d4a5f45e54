using VhostDeviceCan.Backend;
using VhostDeviceCan.VhostUser;
using VhostDeviceCan.Virtqueue;

namespace VhostDeviceCan.EchoDeviceHost;

/// <summary>
/// A device for testing the runtime: every chain's readable bytes are copied into its writable
/// bytes, and the used length is the number of bytes copied. Each queue works on its own.
/// </summary>
public sealed class EchoDevice(int queueCount = 2, ushort maxQueueSize = 1024) : IVhostUserDevice
{
    public const int ConfigSize = 16;

    private readonly byte[] _config = new byte[ConfigSize];
    private readonly byte[] _scratch = new byte[65536];
    private IDeviceContext? _context;

    public int QueueCount => queueCount;
    public ushort MaxQueueSize => maxQueueSize;

    public ulong Features =>
        VirtioFeatures.Bit(VirtioFeatures.VIRTIO_F_VERSION_1)
        | VirtioFeatures.Bit(VirtioFeatures.VIRTIO_RING_F_EVENT_IDX)
        | VirtioFeatures.Bit(VirtioFeatures.VIRTIO_RING_F_INDIRECT_DESC);

    /// <summary>Chains completed since start, across sessions.</summary>
    public long Completed { get; private set; }
    public int Resets { get; private set; }
    public ulong LastAckedFeatures { get; private set; }

    public void Attach(IDeviceContext context) => _context = context;

    public void FeaturesAcked(ulong features) => LastAckedFeatures = features;

    public void ReadConfig(uint offset, Span<byte> destination)
    {
        destination.Clear();
        if (offset < ConfigSize)
            _config.AsSpan((int)offset, Math.Min(destination.Length, ConfigSize - (int)offset)).CopyTo(destination);
    }

    /// <summary>Writing this to config byte 0 makes the device announce a config change, so that
    /// tests can trigger VHOST_USER_BACKEND_CONFIG_CHANGE_MSG from the front-end side.</summary>
    public const byte ConfigChangeTrigger = 0xFF;

    /// <summary>The first 8 bytes are writable, the rest read-only, to exercise refusals.</summary>
    public bool WriteConfig(uint offset, ReadOnlySpan<byte> data)
    {
        if (offset >= 8 || offset + data.Length > 8) return false;
        data.CopyTo(_config.AsSpan((int)offset));
        if (offset == 0 && data.Length > 0 && data[0] == ConfigChangeTrigger) _context?.NotifyConfigChanged();
        return true;
    }

    public void QueueStarted(int index) => Drain(index);
    public void QueueKicked(int index) => Drain(index);
    public void QueueStopping(int index) { }
    public void HandleEvent(ulong token, uint events) { }
    public void Reset() => Resets++;

    private void Drain(int index)
    {
        Vring ring = _context!.Queue(index);
        SplitQueue queue = ring.Queue;
        do
        {
            queue.DisableNotification();
            while (true)
            {
                PopResult result = queue.TryPop(out DescriptorChain chain);
                if (result == PopResult.Empty) break;
                if (result == PopResult.Broken)
                {
                    ring.PublishAndSignal();
                    ring.ReportBroken();
                    return;
                }
                var reader = queue.GetReader(chain);
                int length = reader.Read(_scratch);
                var writer = queue.GetWriter(chain);
                int written = writer.Write(_scratch.AsSpan(0, length));
                queue.AddUsed(chain.Head, (uint)written);
                Completed++;
            }
            ring.PublishAndSignal();
        } while (queue.EnableNotification());
    }
}
