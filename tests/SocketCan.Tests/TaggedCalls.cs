using VhostDeviceCan.Can;

namespace VhostDeviceCan.SocketCan.Tests;

/// <summary>
/// Transmit and receive as the tests use them: a frame goes out tagged with its own CAN ID, so an
/// outcome names the frame it is for, and a receive counts the confirmations.
/// </summary>
internal static class TaggedCalls
{
    public static TxTag TagOf(in CanFrame frame) => new(frame.CanId);

    public static TransmitStatus Transmit(this SocketCanTransport transport, in CanFrame frame) =>
        transport.Transmit(in frame, TagOf(frame));

    /// <summary>Receives frames and outcomes; every outcome must be a confirmation (a test that
    /// expects a frame to be lost reads outcomes itself).</summary>
    public static int Receive(this SocketCanTransport transport, Span<CanFrame> frames, out int confirmations)
    {
        Span<TxOutcome> outcomes = stackalloc TxOutcome[64];
        int count = transport.Receive(frames, outcomes, out int outcomeCount);
        confirmations = 0;
        foreach (var outcome in outcomes[..outcomeCount])
        {
            Assert.True(outcome.Confirmed, $"{outcome.Tag} reported as never sent");
            confirmations++;
        }
        return count;
    }
}
