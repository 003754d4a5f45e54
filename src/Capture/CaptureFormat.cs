namespace VhostDeviceCan.Capture;

public enum CaptureFormat
{
    /// <summary>pcapng with LINKTYPE_CAN_SOCKETCAN (227), an interface per guest, nanosecond stamps: Wireshark, tshark.</summary>
    Pcapng,
    /// <summary>candump's log (<c>candump -l</c>): log2asc, canplayer.</summary>
    CandumpLog,
}

/// <summary>The choices of <see cref="CaptureFormat"/> by name and by file name.</summary>
public static class CaptureFormats
{
    public static bool TryParse(string name, out CaptureFormat format)
    {
        switch (name)
        {
            case "pcapng": format = CaptureFormat.Pcapng; return true;
            case "log": format = CaptureFormat.CandumpLog; return true;
            default: format = default; return false;
        }
    }

    /// <summary>The format a file name's ending implies: <c>.pcapng</c> or <c>.log</c>.</summary>
    public static CaptureFormat? FromFileName(string path) =>
        path.EndsWith(".pcapng", StringComparison.Ordinal) ? CaptureFormat.Pcapng
        : path.EndsWith(".log", StringComparison.Ordinal) ? CaptureFormat.CandumpLog
        : null;

    internal static CaptureEncoder CreateEncoder(CaptureFormat format, IReadOnlyList<CapturePoint> interfaces) => format switch
    {
        CaptureFormat.Pcapng => new PcapngEncoder(interfaces),
        _ => new CandumpLogEncoder(interfaces),
    };
}
