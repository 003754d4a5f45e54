namespace VhostDeviceCan.Capture;

/// <summary>Which way a captured frame crossed the guest's device, as pcapng's <c>epb_flags</c> names it.</summary>
public enum CaptureDirection : byte
{
    /// <summary>Into the guest: a frame placed in its Rxq (pcapng "inbound").</summary>
    Received = 1,
    /// <summary>From the guest: a frame its Txq sent that the device handed to the bus (pcapng "outbound").</summary>
    Transmitted = 2,
}
