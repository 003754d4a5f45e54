using System.Buffers.Binary;
using VhostDeviceCan.Can;

namespace VhostDeviceCan.Guest;

/// <summary>The driver's half of the wire format (virtio-can.md §5): TX requests out, RX messages
/// in, with the checks the Linux driver applies to what the device writes (§10).</summary>
public static class GuestCodec
{
    /// <summary>Writes a virtio_can_tx_out for <paramref name="frame"/>; returns its length.
    /// Remote frames carry DLC zero bytes, as the Linux driver sends them.</summary>
    public static int EncodeTx(in CanFrame frame, Span<byte> destination)
    {
        int length = frame.Length;
        uint flags = (frame.IsExtended ? VirtioCan.VIRTIO_CAN_FLAGS_EXTENDED : 0)
            | (frame.IsFd ? VirtioCan.VIRTIO_CAN_FLAGS_FD : 0)
            | (frame.IsRemote ? VirtioCan.VIRTIO_CAN_FLAGS_RTR : 0);
        destination[..VirtioCan.HeaderLength].Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(destination, VirtioCan.VIRTIO_CAN_TX);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], (ushort)length);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], frame.Id);
        Span<byte> payload = destination.Slice(VirtioCan.HeaderLength, length);
        if (frame.IsRemote) payload.Clear();
        else frame.Data.CopyTo(payload);
        return VirtioCan.HeaderLength + length;
    }

    /// <summary>Reads a virtio_can_rx the device wrote (<paramref name="message"/> is the used
    /// length); null with a reason when the Linux driver would drop it.</summary>
    public static CanFrame? DecodeRx(ReadOnlySpan<byte> message, ulong negotiated, out string? reason)
    {
        reason = null;
        if (message.Length < VirtioCan.HeaderLength) { reason = "used length below the 16-byte header"; return null; }
        ushort type = BinaryPrimitives.ReadUInt16LittleEndian(message);
        int length = BinaryPrimitives.ReadUInt16LittleEndian(message[2..]);
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(message[8..]);
        uint id = BinaryPrimitives.ReadUInt32LittleEndian(message[12..]);
        if (type != VirtioCan.VIRTIO_CAN_RX) { reason = $"msg_type 0x{type:x4} is not VIRTIO_CAN_RX"; return null; }
        if ((flags & ~VirtioCan.FlagsMask) != 0) { reason = $"unknown flags 0x{flags:x}"; return null; }
        bool extended = (flags & VirtioCan.VIRTIO_CAN_FLAGS_EXTENDED) != 0;
        bool fd = (flags & VirtioCan.VIRTIO_CAN_FLAGS_FD) != 0;
        bool rtr = (flags & VirtioCan.VIRTIO_CAN_FLAGS_RTR) != 0;
        if (rtr && (fd || !Has(negotiated, VirtioCan.VIRTIO_CAN_F_RTR_FRAMES))) { reason = "remote frame not allowed"; return null; }
        if (message.Length < VirtioCan.HeaderLength + length) { reason = "message too small for its payload"; return null; }
        if (fd && !Has(negotiated, VirtioCan.VIRTIO_CAN_F_CAN_FD)) { reason = "CAN FD frame without CAN_FD"; return null; }
        if (!fd && !Has(negotiated, VirtioCan.VIRTIO_CAN_F_CAN_CLASSIC)) { reason = "classic frame without CAN_CLASSIC"; return null; }
        ReadOnlySpan<byte> payload = message.Slice(VirtioCan.HeaderLength, Math.Min(length, fd ? 64 : 8));
        if (rtr) return CanFrame.Remote(id, extended, Math.Min(length, 8));
        return fd ? CanFrame.Fd(id, extended, payload) : CanFrame.Classic(id, extended, payload);
    }

    private static bool Has(ulong features, int bit) => (features & (1UL << bit)) != 0;
}
