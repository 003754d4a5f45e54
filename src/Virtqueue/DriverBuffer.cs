namespace VhostDeviceCan.Virtqueue;

/// <summary>One buffer of a chain the driver offers: a GPA range, device-readable or device-writable.</summary>
public readonly record struct DriverBuffer(ulong Address, uint Length, bool Writable);
