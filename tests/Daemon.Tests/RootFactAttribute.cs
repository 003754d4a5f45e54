namespace VhostDeviceCan.Daemon.Tests;

/// <summary>A test that changes the system it runs on (dpkg -i): skipped, with the reason in the
/// test report, unless the test host runs as root, as CI does.</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (!Environment.IsPrivilegedProcess)
            Skip = "SKIPPED: needs root to install the package into this system with dpkg (CI runs as root)";
    }
}
