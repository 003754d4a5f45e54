using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace VhostDeviceCan.Virtqueue;

/// <summary>
/// Loads and stores of little-endian ring fields at host addresses. Callers pass addresses inside a
/// ring area whose whole extent was translated and alignment-checked when the ring was configured
/// (SplitQueue.TrySetAddresses, DriverQueue constructor), so 2- and 4-byte fields are naturally aligned
/// and Volatile accesses on them are single atomic instructions.
/// </summary>
internal static unsafe class RingMemory
{
    private static ushort Le(ushort value) => BitConverter.IsLittleEndian ? value : BinaryPrimitives.ReverseEndianness(value);
    private static uint Le(uint value) => BitConverter.IsLittleEndian ? value : BinaryPrimitives.ReverseEndianness(value);

    // SAFETY (all members): the caller guarantees the address is inside a validated, aligned ring area.

    /// <summary>Acquire load: no later read moves before it (docs/spec/virtqueue.md §5.1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort LoadAcquire16(nint address) => Le(Volatile.Read(ref *(ushort*)address));

    /// <summary>Release store: every earlier write is visible before it (docs/spec/virtqueue.md §5.2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreRelease16(nint address, ushort value) => Volatile.Write(ref *(ushort*)address, Le(value));

    /// <summary>A single (untorn) load with no ordering of its own; ordering comes from a fence or an acquire before it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Load16(nint address) => Le(Volatile.Read(ref *(ushort*)address));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Load32(nint address) => Le(Volatile.Read(ref *(uint*)address));

    /// <summary>A single (untorn) store; ordering comes from the release store or fence after it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16(nint address, ushort value) => *(ushort*)address = Le(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store32(nint address, uint value) => *(uint*)address = Le(value);

    /// <summary>Copies one 16-byte descriptor into a local, so later checks see one consistent value (docs/spec/virtqueue.md §5.5).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Descriptor LoadDescriptor(nint address) => Descriptor.Read(new ReadOnlySpan<byte>((void*)address, Descriptor.Size));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreDescriptor(nint address, in Descriptor descriptor) => descriptor.Write(new Span<byte>((void*)address, Descriptor.Size));
}
