using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Can.Tests;

/// <summary>
/// Sends as a device does: what the transport does not take now is retried once its write fd is
/// ready, waited for in epoll with no polling.
/// </summary>
internal static class BlockingSend
{
    /// <summary>Sends every frame; returns how many times the transport said WouldBlock. Throws if
    /// the write fd stays silent for <paramref name="patience"/>.</summary>
    public static int SendAll(this ICanTransport transport, ReadOnlySpan<CanFrame> frames, TimeSpan patience)
    {
        int blocked = 0;
        using var epoll = new Epoll();
        epoll.Add(transport.WritePollFd, token: 1);
        Span<Libc.EpollEvent> events = stackalloc Libc.EpollEvent[1];
        while (!frames.IsEmpty)
        {
            int sent = transport.TransmitBatch(frames, out TransmitStatus status);
            frames = frames[sent..];
            if (status == TransmitStatus.Sent) break;
            if (status != TransmitStatus.WouldBlock) throw new InvalidOperationException($"transmit failed: {status}");
            blocked++;
            if (epoll.Wait(events, timeoutMs: (int)patience.TotalMilliseconds) == 0)
                throw new TimeoutException($"write fd not ready within {patience.TotalMilliseconds} ms, {frames.Length} frames unsent");
        }
        return blocked;
    }
}
