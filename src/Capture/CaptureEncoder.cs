using System.Buffers;

namespace VhostDeviceCan.Capture;

/// <summary>Turns records into a file format's bytes. Each file of a rotated capture gets
/// <see cref="WriteHeader"/> first and <see cref="WriteTrailer"/> last, so each reads alone.</summary>
internal abstract class CaptureEncoder(IReadOnlyList<CapturePoint> interfaces)
{
    protected IReadOnlyList<CapturePoint> Interfaces { get; } = interfaces;

    /// <summary>The most bytes <see cref="Encode"/> writes for one record.</summary>
    public abstract int MaxRecordLength { get; }

    public abstract void WriteHeader(IBufferWriter<byte> output);

    /// <summary>The bytes <see cref="WriteTrailer"/> adds, which rotation keeps room for.</summary>
    public virtual int TrailerLength => 0;

    /// <summary>One record into <paramref name="destination"/> (<see cref="MaxRecordLength"/> bytes); returns the length.</summary>
    public abstract int Encode(Span<byte> destination, in CaptureRecord record, int interfaceIndex, long epochNanoseconds);

    /// <summary>Per interface: records so far and records lost because the writer fell behind.</summary>
    public virtual void WriteTrailer(IBufferWriter<byte> output, ReadOnlySpan<long> recorded, ReadOnlySpan<long> dropped,
        long startNanoseconds, long endNanoseconds)
    {
    }
}
