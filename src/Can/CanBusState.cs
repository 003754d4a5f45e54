namespace VhostDeviceCan.Can;

/// <summary>The state of a transport's link to its bus, as far as the device must act on it (docs/spec/virtio-can.md §7).</summary>
public enum CanBusState
{
    /// <summary>Frames go out and come in.</summary>
    Active = 0,
    /// <summary>The controller went bus-off: the device sets <c>VIRTIO_CAN_S_CTRL_BUSOFF</c> and stops (docs/spec/virtio-can.md §7).</summary>
    BusOff,
    /// <summary>The interface is down or gone; the device treats it like bus-off.</summary>
    Down,
}
