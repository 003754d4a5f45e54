using VhostDeviceCan.Can;
using VhostDeviceCan.VhostUser;

namespace VhostDeviceCan.VirtioCanWire;

/// <summary>
/// Validates a Txq request (<c>virtio_can_tx_out</c>) and translates it into a host frame.
/// Pure and allocation-free; it knows nothing of the controller state, which the device checks
/// first (docs/spec/virtio-can.md §7: a request while STOPPED is NOT_OK whatever it holds).
/// </summary>
public static class TxRequestDecoder
{
    /// <summary>
    /// Decodes the readable part of one Txq request.
    /// </summary>
    /// <param name="readable">
    /// The request's readable bytes, contiguous. A split chain is gathered first; at most
    /// <see cref="VirtioCan.MaxTxRequestLength"/> bytes matter, bytes beyond 16 + <c>length</c> are ignored.
    /// </param>
    /// <param name="negotiatedFeatures">The driver-acknowledged feature bits (device bits 0..3 are read).</param>
    /// <param name="frame">On <see cref="TxVerdict.Ok"/>, the frame to send; otherwise default.</param>
    /// <remarks>
    /// Checks run in the order of <see cref="TxVerdict"/>, so one request always gets the same
    /// reason. Reserved header fields are ignored (docs/spec/virtio-can.md §5). A remote frame carries no payload: the
    /// Linux driver sends <c>length</c> zero bytes after the header (docs/spec/linux-driver.md §3), but a request without
    /// them is accepted too. An FD length between DLC steps (e.g. 9) is accepted, rounded up and
    /// zero-padded, as the kernel does for the same write (docs/spec/virtio-can.md §6; the Rust reference rejects it, docs/spec/virtio-can.md §10.12).
    /// </remarks>
    public static TxVerdict Decode(ReadOnlySpan<byte> readable, ulong negotiatedFeatures, out CanFrame frame)
    {
        frame = default;
        if (readable.Length < VirtioCanHeader.Length) return TxVerdict.TooShort;
        var header = VirtioCanHeader.Read(readable);

        if (header.MsgType != VirtioCan.VIRTIO_CAN_TX) return TxVerdict.BadMessageType;
        if ((header.Flags & ~VirtioCan.FlagsMask) != 0) return TxVerdict.UndefinedFlags;

        bool fd = header.IsFd;
        bool remote = header.IsRemote;
        if (fd && !VirtioFeatures.Has(negotiatedFeatures, VirtioCan.VIRTIO_CAN_F_CAN_FD)) return TxVerdict.FdNotNegotiated;
        if (!fd && !VirtioFeatures.Has(negotiatedFeatures, VirtioCan.VIRTIO_CAN_F_CAN_CLASSIC)) return TxVerdict.ClassicNotNegotiated;
        if (remote && !VirtioFeatures.Has(negotiatedFeatures, VirtioCan.VIRTIO_CAN_F_RTR_FRAMES)) return TxVerdict.RtrNotNegotiated;
        if (remote && fd) return TxVerdict.RtrWithFd;

        int length = header.PayloadLength;
        if (length > (fd ? VirtioCan.MaxFdPayload : VirtioCan.MaxClassicPayload)) return TxVerdict.LengthOutOfRange;
        int payloadBytes = remote ? 0 : length;
        if (readable.Length < VirtioCanHeader.Length + payloadBytes) return TxVerdict.PayloadTruncated;

        uint id = header.CanId;
        if (header.IsExtended)
        {
            if (id > CanFrame.CAN_EFF_MASK) return TxVerdict.ExtendedIdOutOfRange;
            id |= CanFrame.CAN_EFF_FLAG;
        }
        else if (id > CanFrame.CAN_SFF_MASK)
        {
            return TxVerdict.StandardIdOutOfRange;
        }

        if (remote)
        {
            // SocketCAN carries a remote frame's DLC in len (docs/spec/virtio-can.md §6).
            frame.CanId = id | CanFrame.CAN_RTR_FLAG;
            frame.Len = (byte)length;
            return TxVerdict.Ok;
        }

        frame.CanId = id;
        if (fd)
        {
            frame.Flags = CanFrame.CANFD_FDF;
            frame.Len = (byte)CanFrame.RoundUpFdLength(length);
        }
        else
        {
            frame.Len = (byte)length;
        }
        // frame started as default, so the rounding pad is already zero.
        readable.Slice(VirtioCanHeader.Length, length).CopyTo(frame.DataBuffer);
        return TxVerdict.Ok;
    }
}
