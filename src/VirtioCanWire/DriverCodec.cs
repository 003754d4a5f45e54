using VhostDeviceCan.Can;
using VhostDeviceCan.VhostUser;

namespace VhostDeviceCan.VirtioCanWire;

/// <summary>
/// The driver's half of the wire format (docs/spec/virtio-can.md §5): TX requests out, RX messages
/// in, with the checks the Linux driver applies to what the device writes (docs/spec/linux-driver.md §5).
/// </summary>
/// <remarks>
/// It shares <see cref="VirtioCanHeader"/> with the device's half, so the header layout has one
/// definition, pinned by literal-byte tests. What it does not share are the rules: the device
/// validates as the spec requires of a device (<see cref="TxRequestDecoder"/>), this side accepts
/// or drops as the Linux driver does, so a test that drives the device through the driver model
/// checks one set of rules against the other.
/// </remarks>
public static class DriverCodec
{
    /// <summary>Writes a virtio_can_tx_out for <paramref name="frame"/>; returns its length.
    /// Remote frames carry DLC zero bytes, as the Linux driver sends them.</summary>
    public static int EncodeTx(in CanFrame frame, Span<byte> destination)
    {
        int length = frame.Length;
        uint flags = (frame.IsExtended ? VirtioCan.VIRTIO_CAN_FLAGS_EXTENDED : 0)
            | (frame.IsFd ? VirtioCan.VIRTIO_CAN_FLAGS_FD : 0)
            | (frame.IsRemote ? VirtioCan.VIRTIO_CAN_FLAGS_RTR : 0);
        new VirtioCanHeader(VirtioCan.VIRTIO_CAN_TX, (ushort)length, flags, frame.Id).Write(destination);
        Span<byte> payload = destination.Slice(VirtioCanHeader.Length, length);
        if (frame.IsRemote) payload.Clear();
        else frame.Data.CopyTo(payload);
        return VirtioCanHeader.Length + length;
    }

    /// <summary>Reads a virtio_can_rx the device wrote (<paramref name="message"/> is the used
    /// length); null with a reason when the Linux driver would drop it.</summary>
    public static CanFrame? DecodeRx(ReadOnlySpan<byte> message, ulong negotiated, out string? reason)
    {
        reason = null;
        if (message.Length < VirtioCanHeader.Length) { reason = "used length below the 16-byte header"; return null; }
        var header = VirtioCanHeader.Read(message);
        int length = header.PayloadLength;
        if (header.MsgType != VirtioCan.VIRTIO_CAN_RX) { reason = $"msg_type 0x{header.MsgType:x4} is not VIRTIO_CAN_RX"; return null; }
        if ((header.Flags & ~VirtioCan.FlagsMask) != 0) { reason = $"unknown flags 0x{header.Flags:x}"; return null; }
        bool fd = header.IsFd;
        bool rtr = header.IsRemote;
        if (rtr && (fd || !VirtioFeatures.Has(negotiated, VirtioCan.VIRTIO_CAN_F_RTR_FRAMES))) { reason = "remote frame not allowed"; return null; }
        if (message.Length < VirtioCanHeader.Length + length) { reason = "message too small for its payload"; return null; }
        if (fd && !VirtioFeatures.Has(negotiated, VirtioCan.VIRTIO_CAN_F_CAN_FD)) { reason = "CAN FD frame without CAN_FD"; return null; }
        if (!fd && !VirtioFeatures.Has(negotiated, VirtioCan.VIRTIO_CAN_F_CAN_CLASSIC)) { reason = "classic frame without CAN_CLASSIC"; return null; }
        ReadOnlySpan<byte> payload = message.Slice(VirtioCanHeader.Length,
            Math.Min(length, fd ? VirtioCan.MaxFdPayload : VirtioCan.MaxClassicPayload));
        if (rtr) return CanFrame.Remote(header.CanId, header.IsExtended, Math.Min(length, VirtioCan.MaxClassicPayload));
        return fd ? CanFrame.Fd(header.CanId, header.IsExtended, payload) : CanFrame.Classic(header.CanId, header.IsExtended, payload);
    }
}
