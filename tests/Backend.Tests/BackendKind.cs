namespace VhostDeviceCan.Backend.Tests;

/// <summary>Where the back-end under test runs.</summary>
public enum BackendKind
{
    /// <summary>A <see cref="DeviceEventLoop"/> on its own thread in the test process.</summary>
    InProcess,
    /// <summary>The published NativeAOT echo-device-host, a separate process.</summary>
    Process,
}
