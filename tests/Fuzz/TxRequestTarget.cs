using VhostDeviceCan.Can;
using VhostDeviceCan.VirtioCanWire;

namespace VhostDeviceCan.Fuzz;

/// <summary>
/// Txq request decoding. Input: one byte of CAN feature bits (bits 0-3), then the request's
/// readable bytes. An accepted request must give a frame that says what the request said.
/// </summary>
internal sealed class TxRequestTarget : IFuzzTarget
{
    public string Name => "tx-request";

    public void Run(ReadOnlySpan<byte> input)
    {
        if (input.IsEmpty) return;
        DecodeAndCheck(input[1..], (ulong)(input[0] & 0x0F));
    }

    public static void DecodeAndCheck(ReadOnlySpan<byte> request, ulong features)
    {
        TxVerdict verdict = TxRequestDecoder.Decode(request, features, out CanFrame frame);
        if (verdict != TxVerdict.Ok)
        {
            FuzzFindingException.Check(frame.Equals(default), $"{verdict} left a frame behind");
            return;
        }
        var header = VirtioCanHeader.Read(request);
        int length = header.PayloadLength;
        FuzzFindingException.Check(frame.IsExtended == header.IsExtended && frame.IsRemote == header.IsRemote && frame.IsFd == header.IsFd,
            $"frame {frame} does not carry the request's flags 0x{header.Flags:x}");
        uint id = frame.CanId & (frame.IsExtended ? CanFrame.CAN_EFF_MASK : CanFrame.CAN_SFF_MASK);
        FuzzFindingException.Check(id == header.CanId, $"frame id 0x{id:x} is not the request's 0x{header.CanId:x}");
        FuzzFindingException.Check(frame.IsRemote ? frame.Len == length : frame.Length >= length,
            $"frame length {frame.Len} for a request of length {length}");
        FuzzFindingException.Check(frame.Length <= (frame.IsFd ? VirtioCan.MaxFdPayload : VirtioCan.MaxClassicPayload),
            $"frame length {frame.Length} is too long");
        if (!frame.IsRemote)
        {
            FuzzFindingException.Check(frame.Data[..length].SequenceEqual(request.Slice(VirtioCan.HeaderLength, length)),
                "frame data differs from the request's");
            FuzzFindingException.Check(!frame.Data[length..].ContainsAnyExcept((byte)0), "frame padding is not zero");
        }
        _ = frame.ToString();
    }
}
