using System.Buffers.Binary;
using VhostDeviceCan.Can;
using VhostDeviceCan.Frontend;
using VhostDeviceCan.Guest;
using VhostDeviceCan.VirtioCanWire;
using VhostDeviceCan.Virtqueue;

namespace VhostDeviceCan.Device.Tests;

/// <summary>Raw virtio-can messages and raw queue access, for what a well-behaved driver never sends.</summary>
internal static class Wire
{
    public const int All = 0b1111;
    public const int Classic = 1 << VirtioCan.VIRTIO_CAN_F_CAN_CLASSIC;
    public const int Fd = 1 << VirtioCan.VIRTIO_CAN_F_CAN_FD;
    public const int Rtr = 1 << VirtioCan.VIRTIO_CAN_F_RTR_FRAMES;
    public const int LateTxAck = 1 << VirtioCan.VIRTIO_CAN_F_LATE_TX_ACK;

    /// <summary>A virtio_can_tx_out: 16-byte header then <paramref name="payloadBytes"/> bytes (default: length).</summary>
    public static byte[] TxRequest(ushort length, uint flags, uint canId, ushort msgType = VirtioCan.VIRTIO_CAN_TX, int payloadBytes = -1)
    {
        int payload = payloadBytes < 0 ? length : payloadBytes;
        var bytes = new byte[VirtioCan.HeaderLength + payload];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, msgType);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2), length);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), flags);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), canId);
        for (int i = 0; i < payload; i++) bytes[VirtioCan.HeaderLength + i] = (byte)(0xA0 + i);
        return bytes;
    }

    public static VirtioCanGuestOptions Features(int canFeatures, bool postRxBuffers = true) =>
        new() { CanFeatures = (ulong)canFeatures, PostRxBuffers = postRxBuffers };

    /// <summary>Posts one device-writable Rxq buffer of <paramref name="size"/> bytes filled with
    /// <paramref name="fill"/>; returns its guest address.</summary>
    public static ulong PostRxBuffer(VirtioCanGuest guest, uint size, byte fill = 0xAA)
    {
        FrontendQueue rx = guest.Frontend.Queue(VirtioCan.RxQueue);
        ulong gpa = rx.Buffers.Rent();
        guest.Frontend.Ram.GetSpan(gpa, (int)size).Fill(fill);
        rx.Add([new DriverBuffer(gpa, size, Writable: true)]);
        rx.Kick();
        return gpa;
    }

    /// <summary>Waits for the next used Rxq buffer taken straight from the ring; returns its used length.</summary>
    public static uint TakeUsed(VirtioCanGuest guest, int queueIndex)
    {
        FrontendQueue queue = guest.Frontend.Queue(queueIndex);
        DateTime deadline = DateTime.UtcNow + DeviceHarness.Timeout;
        while (true)
        {
            if (queue.TryTakeUsed(out _, out uint length)) return length;
            TimeSpan left = deadline - DateTime.UtcNow;
            Assert.True(left > TimeSpan.Zero && queue.WaitForUsed(left), $"queue {queueIndex}: nothing used");
        }
    }

    /// <summary>A Controlq request of arbitrary bytes, with or without a result byte; returns
    /// (used length, result byte or -1).</summary>
    public static (uint Used, int Result) RawControl(VirtioCanGuest guest, ReadOnlySpan<byte> request, bool withResult = true)
    {
        FrontendQueue control = guest.Frontend.Queue(VirtioCan.ControlQueue);
        ulong gpa = control.Buffers.Rent();
        request.CopyTo(guest.Frontend.Ram.GetSpan(gpa, request.Length));
        ulong resultGpa = gpa + 64;
        guest.Frontend.Ram.GetSpan(resultGpa, 1)[0] = 0xEE;
        if (withResult) control.Add([new DriverBuffer(gpa, (uint)request.Length, false), new DriverBuffer(resultGpa, 1, true)]);
        else control.Add([new DriverBuffer(gpa, (uint)request.Length, false)]);
        control.Kick();
        uint used = TakeUsed(guest, VirtioCan.ControlQueue);
        int result = used >= 1 ? guest.Frontend.Ram.GetSpan(resultGpa, 1)[0] : -1;
        control.Buffers.Return(gpa);
        return (used, result);
    }
}
