namespace VhostDeviceCan.Capture;

/// <summary>
/// Where a capture's bytes go: a file, optionally rotated by size, or any writable stream (a
/// pipe, standard output, a control-socket connection).
/// </summary>
public sealed class CaptureDestination
{
    /// <summary>Rotated files kept besides the current one when <c>keep</c> is not given.</summary>
    public const int DefaultKeep = 10;

    /// <summary>A file smaller than this could not hold a pcapng header and a few frames.</summary>
    public const long MinMaxSize = 4096;

    private CaptureDestination(string? path, Stream? stream, bool leaveOpen, long maxSize, int keep, string? description = null, Action? abort = null)
    {
        _description = description;
        Abort = abort;
        Path = path;
        Stream = stream;
        LeaveOpen = leaveOpen;
        MaxSize = maxSize;
        Keep = keep;
    }

    private readonly string? _description;

    /// <summary>For a stream: makes a write that waits for a reader who stopped reading fail or
    /// return, so that a stop does not wait for that reader forever; null when writes cannot hang.</summary>
    public Action? Abort { get; }

    /// <summary>The file, or null for a stream.</summary>
    public string? Path { get; }
    public Stream? Stream { get; }
    public bool LeaveOpen { get; }

    /// <summary>Bytes after which the file is rotated; 0 never rotates.</summary>
    public long MaxSize { get; }

    /// <summary>Rotated files kept: <c>FILE.1</c> (the newest) to <c>FILE.Keep</c>; older ones are deleted.</summary>
    public int Keep { get; }

    /// <summary>The file <paramref name="path"/>, created or truncated when the capture starts.
    /// With <paramref name="maxSize"/> above 0, a file that would grow past it is closed and
    /// renamed <c>FILE.1</c> (an older <c>FILE.1</c> becoming <c>FILE.2</c>, and so on up to
    /// <paramref name="keep"/>), and a new <c>FILE</c> begins, readable alone.</summary>
    public static CaptureDestination ToFile(string path, long maxSize = 0, int keep = DefaultKeep)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (maxSize != 0 && maxSize < MinMaxSize) throw new ArgumentOutOfRangeException(nameof(maxSize), $"max-size must be at least {MinMaxSize} bytes");
        ArgumentOutOfRangeException.ThrowIfNegative(keep);
        return new CaptureDestination(path, null, false, maxSize, keep);
    }

    /// <summary>Any writable stream; written from the capture's own thread and flushed whenever the
    /// writer catches up, so a reader at the other end (<c>wireshark -k -i -</c>) sees frames live.
    /// The capture ends by itself when a write fails (the reader went away). <paramref name="description"/>
    /// names the reader in logs; <paramref name="abort"/> (see <see cref="Abort"/>) is called when a
    /// stop finds the writer still writing after <see cref="CaptureSession.StopGrace"/>.</summary>
    public static CaptureDestination ToStream(Stream stream, bool leaveOpen = false, string? description = null, Action? abort = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanWrite) throw new ArgumentException("the stream is not writable", nameof(stream));
        return new CaptureDestination(null, stream, leaveOpen, 0, 0, description, abort);
    }

    /// <summary>Creates (or truncates) the file now, as the capture's start will, so that a program
    /// can refuse a file it cannot write before it sets anything else up; an
    /// <see cref="IOException"/> names the file and the reason.</summary>
    public void CheckWritable()
    {
        if (Path is not null) CaptureOutput.OpenFile(Path).Dispose();
    }

    /// <summary>"4096", "64k", "10M", "1G": bytes, the suffixes powers of 1024.</summary>
    public static bool TryParseSize(string text, out long bytes)
    {
        bytes = 0;
        if (text.Length == 0) return false;
        long unit = char.ToUpperInvariant(text[^1]) switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, _ => 1 };
        string digits = unit == 1 ? text : text[..^1];
        if (!long.TryParse(digits, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long count)
            || count > long.MaxValue / unit) return false;
        bytes = count * unit;
        return true;
    }

    public override string ToString() => Path ?? _description ?? "a stream";
}
