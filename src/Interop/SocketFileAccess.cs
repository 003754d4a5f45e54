using System.Globalization;

namespace VhostDeviceCan.Interop;

/// <summary>Who may connect to a socket file: its permission bits (a connecting process needs
/// write permission) and, when set, the group it belongs to.</summary>
public readonly record struct SocketFileAccess(uint Mode, uint? GroupId)
{
    /// <summary>"mode 0660, group 993", as chmod and chown would be told.</summary>
    public override string ToString() =>
        "mode " + Convert.ToString(Mode, 8).PadLeft(4, '0')
        + (GroupId is { } gid ? ", group " + gid.ToString(CultureInfo.InvariantCulture) : "");
}
