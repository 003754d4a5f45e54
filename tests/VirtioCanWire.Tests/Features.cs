namespace VhostDeviceCan.VirtioCanWire.Tests;

/// <summary>Short feature masks for table rows: C = CAN_CLASSIC, F = CAN_FD, R = RTR_FRAMES, L = LATE_TX_ACK.</summary>
internal static class Features
{
    public const int C = 1 << VirtioCan.VIRTIO_CAN_F_CAN_CLASSIC;
    public const int F = 1 << VirtioCan.VIRTIO_CAN_F_CAN_FD;
    public const int R = 1 << VirtioCan.VIRTIO_CAN_F_RTR_FRAMES;
    public const int L = 1 << VirtioCan.VIRTIO_CAN_F_LATE_TX_ACK;
    public const int All = C | F | R | L;
}
