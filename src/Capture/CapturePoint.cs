namespace VhostDeviceCan.Capture;

/// <summary>
/// One guest's device as a capture shows it: a pcapng interface (<c>if_name</c>
/// <see cref="Name"/>, <c>if_description</c> <see cref="Description"/>), and in a candump log
/// the names <see cref="Name"/> + <c>tx</c> / <c>rx</c>.
/// </summary>
/// <param name="Name">Short and without spaces, e.g. <c>guest0</c>.</param>
/// <param name="Description">What it is attached to, e.g. <c>/tmp/can.sock0 on vbus:default</c>.</param>
/// <param name="Bus">The bus it is on as --can-devices names it: <c>vbus:default</c>, <c>vcan0</c>.</param>
/// <param name="GuestIndex">The socket index.</param>
/// <param name="Tap">Where its frames are recorded.</param>
public sealed record CapturePoint(string Name, string Description, string Bus, int GuestIndex, ICaptureTap Tap);
