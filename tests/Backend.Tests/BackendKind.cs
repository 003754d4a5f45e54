namespace VhostDeviceCan.Backend.Tests;

/// <summary>Where the back-end under test runs.</summary>
public enum BackendKind
{
    /// <summary>A <see cref="DeviceServer"/> in the test process.</summary>
    InProcess,
    /// <summary>The published NativeAOT echo-device-host, a separate process.</summary>
    Process,
}
