namespace VhostDeviceCan.Capture;

/// <summary>
/// A place frames pass that a capture can watch: a guest's device. Attach and detach may be
/// called from any thread; the tap then copies each batch of frames it passes into every
/// attached ring from its own thread, and never waits for a ring's reader.
/// </summary>
public interface ICaptureTap
{
    void AttachCapture(CaptureRing ring);
    void DetachCapture(CaptureRing ring);
}
