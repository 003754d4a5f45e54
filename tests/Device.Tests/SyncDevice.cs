using System.Buffers.Binary;
using VhostDeviceCan.Backend;
using Microsoft.Extensions.Logging;
using VhostDeviceCan.Can;
using VhostDeviceCan.VirtioCanWire;
using VhostDeviceCan.Guest;
using VhostDeviceCan.Interop;
using VhostDeviceCan.VhostUser;
using VhostDeviceCan.Virtqueue;

namespace VhostDeviceCan.Device.Tests;

/// <summary>
/// A <see cref="CanDevice"/> driven step by step on the test's thread: a
/// <see cref="SyncDeviceContext"/> in place of the runtime, a <see cref="DriverQueue"/> per
/// virtqueue in place of the guest driver, and a <see cref="TestTransport"/> whose events the test
/// delivers itself. No sockets, no threads, no waiting: when a call returns, whatever the device
/// was going to do has been done, so "nothing happened" is an assertion on state, not a pause.
/// For what needs the real runtime (the vhost-user socket, timing), use <see cref="DeviceHarness"/>.
/// </summary>
public sealed class SyncDevice : IDisposable
{
    private const ulong Gpa = 0x1_0000_0000;
    private const ulong Uva = 0x7f00_0000_0000;
    private const ushort QueueSize = 64;
    private const ulong QueueArea = 0x1_0000;
    private const ulong DataArea = 0x10_0000;
    private const ulong SlotSize = 256;
    private const ulong ResultOffset = 128;

    private readonly GuestMemory _memory;
    private readonly SyncDeviceContext _context;
    private readonly DriverQueue[] _queues = new DriverQueue[VirtioCan.QueueCount];
    private readonly int[] _nextSlot = new int[VirtioCan.QueueCount];
    private readonly Dictionary<ushort, ulong>[] _slotOf = [[], [], []];
    private readonly List<byte> _txUsed = [];
    private int _txPosted;
    private int _txTaken;

    public SyncDevice(TestTransport? transport = null, CanDeviceOptions? options = null, int canFeatures = Wire.All)
    {
        Transport = transport ?? new TestTransport();
        Device = new CanDevice(Transport, options);
        Log = new RecordingLogger(LogLevel.Debug);
        using (var fd = MemFd.Create("guest", (long)(DataArea + VirtioCan.QueueCount * QueueSize * SlotSize)))
            _memory = new GuestMemory([GuestMemoryRegion.Map(fd, Gpa, DataArea + VirtioCan.QueueCount * QueueSize * SlotSize, Uva, 0)]);
        _context = new SyncDeviceContext(_memory, Device.QueueCount, Device.MaxQueueSize, Log);
        Device.Attach(_context);

        Negotiated = VirtioFeatures.Bit(VirtioFeatures.VIRTIO_F_VERSION_1) | (Device.Features & (ulong)canFeatures);
        _context.AckedFeatures = Negotiated;
        Device.FeaturesAcked(Negotiated);
        for (int q = 0; q < VirtioCan.QueueCount; q++)
        {
            ulong ring = Gpa + (ulong)q * QueueArea;
            _queues[q] = new DriverQueue(_memory, QueueSize, ring, ring + 0x4000, ring + 0x8000);
            _context.StartRing(q, _queues[q]);
            Device.QueueStarted(q);
        }
    }

    public TestTransport Transport { get; }
    public CanDevice Device { get; }
    public RecordingLogger Log { get; }
    public CanDeviceCounters Counters => Device.Counters;
    public ulong Negotiated { get; }

    /// <summary>Config-change notifications the device sent so far.</summary>
    public int ConfigChanges => _context.ConfigChanges;

    /// <summary>Txq requests posted and not used yet.</summary>
    public int TxInFlight
    {
        get
        {
            _txUsed.AddRange(TakeUsed(VirtioCan.TxQueue).Select(u => u.Result));
            return _txPosted - _txTaken - _txUsed.Count;
        }
    }

    public bool Has(int canFeature) => VirtioFeatures.Has(Negotiated, canFeature);

    /// <summary>A Controlq request; returns the result byte.</summary>
    public byte Control(ushort messageType)
    {
        Span<byte> request = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(request, messageType);
        Post(VirtioCan.ControlQueue, request, writable: 1);
        var used = TakeUsed(VirtioCan.ControlQueue);
        Assert.True(used.Count == 1, $"{used.Count} Controlq answers");
        return used[0].Result;
    }

    public void Start() => Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, Control(VirtioCan.VIRTIO_CAN_SET_CTRL_MODE_START));

    public void Stop() => Assert.Equal(VirtioCan.VIRTIO_CAN_RESULT_OK, Control(VirtioCan.VIRTIO_CAN_SET_CTRL_MODE_STOP));

    /// <summary>Posts a TX request for <paramref name="frame"/> and kicks if the device asks for it.</summary>
    public void Send(params CanFrame[] frames)
    {
        Span<byte> request = stackalloc byte[VirtioCan.MaxTxRequestLength];
        foreach (var frame in frames) Post(VirtioCan.TxQueue, request[..DriverCodec.EncodeTx(in frame, request)], writable: 1);
    }

    /// <summary>Posts raw TX request bytes with a result byte.</summary>
    public void SendRaw(byte[] request) => Post(VirtioCan.TxQueue, request, writable: 1);

    /// <summary>Result bytes of the TX requests completed since the last call, in completion order.</summary>
    public byte[] TakeTxResults()
    {
        _txUsed.AddRange(TakeUsed(VirtioCan.TxQueue).Select(u => u.Result));
        byte[] results = [.. _txUsed];
        _txTaken += results.Length;
        _txUsed.Clear();
        return results;
    }

    /// <summary>A kick the device did not ask for (allowed: notification suppression is only a hint).</summary>
    public void Kick(int queue) => Device.QueueKicked(queue);

    /// <summary>Posts <paramref name="count"/> Rxq buffers of the size the Linux driver uses.</summary>
    public void PostRxBuffers(int count)
    {
        int size = VirtioCan.RxBufferLength(Negotiated);
        for (int i = 0; i < count; i++) Post(VirtioCan.RxQueue, [], writable: size);
    }

    /// <summary>Frames delivered into Rxq buffers since the last call, in order.</summary>
    public List<CanFrame> TakeRx()
    {
        var frames = new List<CanFrame>();
        DriverQueue rx = _queues[VirtioCan.RxQueue];
        while (rx.TryTakeUsed(out ushort head, out uint length))
        {
            ulong gpa = _slotOf[VirtioCan.RxQueue][head];
            var message = new byte[length];
            Assert.True(_memory.TryRead(gpa, message));
            CanFrame? frame = DriverCodec.DecodeRx(message, Negotiated, out string? reason);
            Assert.True(frame is not null, $"the device wrote an Rxq message the driver drops: {reason}");
            frames.Add(frame.Value);
        }
        return frames;
    }

    /// <summary>Frames arrive from the bus and the device's read fd fires.</summary>
    public void Inject(params CanFrame[] frames)
    {
        foreach (var frame in frames) Transport.Inject(frame);
        TransportReadable();
    }

    /// <summary>The transport's read fd fires (frames, outcomes or a bus state change wait).</summary>
    public void TransportReadable() => Fire(Transport.PollFd, Libc.EPOLLIN);

    /// <summary>True while the device waits for the transport to become writable.</summary>
    public bool WatchesWritable => _context.TryGetWatch(Transport.WritePollFd, out _, out _);

    /// <summary>The transport's write fd fires; the device must be watching it.</summary>
    public void TransportWritable() => Fire(Transport.WritePollFd, Libc.EPOLLOUT);

    /// <summary>The front-end stops ring <paramref name="index"/> (GET_VRING_BASE).</summary>
    public void StopQueue(int index)
    {
        Device.QueueStopping(index);
        _context.StopRing(index);
    }

    private void Fire(int fd, uint events)
    {
        Assert.True(_context.TryGetWatch(fd, out ulong token, out uint watched), $"the device does not watch fd {fd}");
        Assert.True((watched & events) != 0, $"the device does not watch fd {fd} for {events:x}");
        Device.HandleEvent(token, events);
    }

    private void Post(int queue, ReadOnlySpan<byte> readable, int writable)
    {
        ulong slot = Gpa + DataArea + ((ulong)queue * QueueSize + (ulong)(_nextSlot[queue]++ % QueueSize)) * SlotSize;
        Assert.True(_memory.TryWrite(slot, readable));
        var buffers = new List<DriverBuffer>();
        if (!readable.IsEmpty) buffers.Add(new DriverBuffer(slot, (uint)readable.Length, Writable: false));
        ulong writableGpa = readable.IsEmpty ? slot : slot + ResultOffset;
        Assert.True(_memory.TryWrite(writableGpa, Enumerable.Repeat((byte)0xEE, writable).ToArray()));
        buffers.Add(new DriverBuffer(writableGpa, (uint)writable, Writable: true));
        DriverQueue driver = _queues[queue];
        ushort head = driver.AddChain([.. buffers]);
        if (queue == VirtioCan.TxQueue) _txPosted++;
        _slotOf[queue][head] = writableGpa;
        driver.PublishAvailable();
        if (driver.NeedsKick()) Device.QueueKicked(queue);
    }

    private List<(ushort Head, byte Result)> TakeUsed(int queue)
    {
        var used = new List<(ushort, byte)>();
        DriverQueue driver = _queues[queue];
        while (driver.TryTakeUsed(out ushort head, out uint length))
        {
            // Used length 0 leaves the result byte unwritten: the driver reads that as NOT_OK.
            byte result = VirtioCan.VIRTIO_CAN_RESULT_NOT_OK;
            if (length >= 1) Assert.True(_memory.TryRead(_slotOf[queue][head], new Span<byte>(ref result)));
            used.Add((head, result));
        }
        return used;
    }

    public void Dispose()
    {
        Device.Dispose();
        _context.Dispose();
        Transport.Dispose();
        _memory.Dispose();
    }
}
