namespace VhostDeviceCan.Capture;

/// <summary>
/// candump's log: the guest and direction are the interface name, <c>guest0tx</c> for frames
/// the guest sent and <c>guest0rx</c> for frames it received, so that canplayer can replay one
/// guest's transmissions (<c>canplayer vcan0=guest0tx</c>) and log2asc can give each its channel.
/// </summary>
internal sealed class CandumpLogEncoder : CaptureEncoder
{
    private readonly string[] _transmitNames;
    private readonly string[] _receiveNames;
    private readonly char[] _line = new char[CandumpLog.MaxLineLength];

    public CandumpLogEncoder(IReadOnlyList<CapturePoint> interfaces) : base(interfaces)
    {
        _transmitNames = [.. interfaces.Select(i => LogName(i.Name, "tx"))];
        _receiveNames = [.. interfaces.Select(i => LogName(i.Name, "rx"))];
    }

    /// <summary>The direction suffix survives a long name: the name is cut, not the suffix.</summary>
    private static string LogName(string name, string suffix) =>
        CandumpLog.Name(name.Length + suffix.Length > CandumpLog.MaxNameLength ? name[..(CandumpLog.MaxNameLength - suffix.Length)] + suffix : name + suffix);

    public override int MaxRecordLength => CandumpLog.MaxLineLength;

    public override void WriteHeader(System.Buffers.IBufferWriter<byte> output)
    {
    }

    public override int Encode(Span<byte> destination, in CaptureRecord record, int interfaceIndex, long epochNanoseconds)
    {
        string name = record.Direction == CaptureDirection.Transmitted ? _transmitNames[interfaceIndex] : _receiveNames[interfaceIndex];
        int length = CandumpLog.FormatLine(_line, epochNanoseconds, name, in record.Frame);
        // The line is ASCII: one byte a character.
        for (int i = 0; i < length; i++) destination[i] = (byte)_line[i];
        return length;
    }
}
