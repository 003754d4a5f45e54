namespace VhostDeviceCan.Can.Tests;

/// <summary>
/// Transmit and receive for tests that are about frames, not transmission outcomes: every frame
/// goes out with the same tag, and the outcomes of a receive are only counted (the virtual bus
/// never reports any; tests of that say so).
/// </summary>
internal static class UntaggedCalls
{
    private static readonly TxTag Untagged = new(0);

    public static TransmitStatus Transmit(this ICanTransport transport, in CanFrame frame) =>
        transport.Transmit(in frame, Untagged);

    public static int TransmitBatch(this ICanTransport transport, ReadOnlySpan<CanFrame> frames, out TransmitStatus status)
    {
        Span<TxTag> tags = frames.Length <= 256 ? stackalloc TxTag[frames.Length] : new TxTag[frames.Length];
        tags.Fill(Untagged);
        return transport.TransmitBatch(frames, tags, out status);
    }

    public static int Receive(this ICanTransport transport, Span<CanFrame> frames, out int outcomeCount)
    {
        Span<TxOutcome> outcomes = stackalloc TxOutcome[16];
        return transport.Receive(frames, outcomes, out outcomeCount);
    }
}
