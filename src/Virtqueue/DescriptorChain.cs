namespace VhostDeviceCan.Virtqueue;

/// <summary>
/// A validated chain popped from a <see cref="SplitQueue"/>: a small value a device may keep after
/// the next pop (for example to write a 1-byte status at <see cref="FirstWritableAddress"/> later
/// through <see cref="GuestMemory.TryWrite"/>). Its buffers are read and written through
/// <see cref="SplitQueue.GetReader"/> and <see cref="SplitQueue.GetWriter"/>, which only accept the
/// chain popped last.
/// </summary>
public readonly struct DescriptorChain
{
    internal DescriptorChain(ushort head, uint readableLength, uint writableLength, ulong firstWritableAddress, uint serial)
    {
        Head = head;
        ReadableLength = readableLength;
        WritableLength = writableLength;
        FirstWritableAddress = firstWritableAddress;
        Serial = serial;
    }

    /// <summary>Head descriptor index: the id to hand to <see cref="SplitQueue.AddUsed"/>.</summary>
    public ushort Head { get; }

    /// <summary>Total bytes in the device-readable descriptors.</summary>
    public uint ReadableLength { get; }

    /// <summary>Total bytes in the device-writable descriptors.</summary>
    public uint WritableLength { get; }

    /// <summary>
    /// Guest-physical address of the first writable byte (skipping zero-length writable descriptors),
    /// or 0 if the chain has no writable byte.
    /// </summary>
    public ulong FirstWritableAddress { get; }

    /// <summary>Which pop produced this chain, so stale readers are refused.</summary>
    internal uint Serial { get; }
}
