using System.Runtime.CompilerServices;

namespace VhostDeviceCan.Can;

/// <summary>The 64 payload bytes of a <see cref="CanFrame"/> (<c>canfd_frame.data</c>), stored inline.</summary>
[InlineArray(CanFrame.CANFD_MAX_DLEN)]
public struct CanFrameData
{
    private byte _element0;
}
