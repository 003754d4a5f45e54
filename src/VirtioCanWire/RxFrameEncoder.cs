using VhostDeviceCan.Can;
using VhostDeviceCan.VhostUser;

namespace VhostDeviceCan.VirtioCanWire;

/// <summary>
/// Translates a host frame into a <c>virtio_can_rx</c> buffer. Pure and allocation-free; the
/// device decides whether to call it at all (docs/spec/virtio-can.md §7: nothing is delivered while STOPPED).
/// </summary>
public static class RxFrameEncoder
{
    /// <summary>
    /// Writes <paramref name="frame"/> as header + payload into <paramref name="destination"/>
    /// (the writable part of an Rxq buffer, contiguous).
    /// </summary>
    /// <param name="usedLength">16 + <c>length</c> on success (the used length to publish); 0 otherwise.</param>
    /// <returns><see cref="RxVerdict.Ok"/>, or why the frame is dropped. On a drop nothing is written.</returns>
    /// <remarks>
    /// The used length is exactly 16 + <c>length</c>, never the whole buffer (the Rust reference
    /// always wrote 80 bytes, docs/spec/virtio-can.md §10.10). A remote frame gets <c>length</c> = DLC followed by that
    /// many zero bytes, because the Linux driver drops it unless used len ≥ 16 + <c>length</c>
    /// (docs/spec/virtio-can.md §9, docs/spec/linux-driver.md §8.2). BRS and ESI cannot be expressed in virtio 1.4 and are dropped; the frame is
    /// still delivered as FD (docs/spec/linux-driver.md §8.3). A classic <c>len8_dlc</c> is not carried either:
    /// <c>reserved_classic_dlc</c> is written as 0 (docs/spec/virtio-can.md §5).
    /// </remarks>
    public static RxVerdict Encode(in CanFrame frame, ulong negotiatedFeatures, Span<byte> destination, out int usedLength)
    {
        usedLength = 0;
        if (frame.IsError) return RxVerdict.ErrorFrame;

        bool fd = frame.IsFd;
        bool remote = frame.IsRemote;
        if (fd)
        {
            if (!VirtioFeatures.Has(negotiatedFeatures, VirtioCan.VIRTIO_CAN_F_CAN_FD)) return RxVerdict.FdNotNegotiated;
            if (remote) return RxVerdict.RtrWithFd;
        }
        else
        {
            if (!VirtioFeatures.Has(negotiatedFeatures, VirtioCan.VIRTIO_CAN_F_CAN_CLASSIC)) return RxVerdict.ClassicNotNegotiated;
            if (remote && !VirtioFeatures.Has(negotiatedFeatures, VirtioCan.VIRTIO_CAN_F_RTR_FRAMES)) return RxVerdict.RtrNotNegotiated;
        }

        int length = frame.Len;
        if (length > (fd ? VirtioCan.MaxFdPayload : VirtioCan.MaxClassicPayload)) return RxVerdict.LengthOutOfRange;

        uint flags = 0;
        uint id = frame.Id;
        if (frame.IsExtended)
        {
            flags |= VirtioCan.VIRTIO_CAN_FLAGS_EXTENDED;
        }
        else if (id > CanFrame.CAN_SFF_MASK)
        {
            return RxVerdict.IdOutOfRange;
        }
        if (fd) flags |= VirtioCan.VIRTIO_CAN_FLAGS_FD;
        if (remote) flags |= VirtioCan.VIRTIO_CAN_FLAGS_RTR;

        int total = VirtioCanHeader.Length + length;
        if (destination.Length < total) return RxVerdict.BufferTooSmall;

        new VirtioCanHeader(VirtioCan.VIRTIO_CAN_RX, (ushort)length, flags, id).Write(destination);
        var payload = destination.Slice(VirtioCanHeader.Length, length);
        if (remote) payload.Clear();
        else frame.Data[..length].CopyTo(payload);
        usedLength = total;
        return RxVerdict.Ok;
    }
}
