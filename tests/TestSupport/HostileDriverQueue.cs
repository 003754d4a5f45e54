using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using VhostDeviceCan.Virtqueue;

namespace VhostDeviceCan.TestSupport;

/// <summary>
/// What a misbehaving driver does to a split virtqueue: raw writes of descriptors and ring fields
/// past <see cref="DriverQueue"/>'s bookkeeping, through the guest memory the rings live in. Test
/// code only; a well-behaved driver (the front-end, the simulator) never needs them.
/// </summary>
public static unsafe class HostileDriverQueue
{
    extension(DriverQueue queue)
    {
        /// <summary>Writes any descriptor table entry.</summary>
        public void WriteDescriptor(ushort index, ulong address, uint length, ushort flags, ushort next)
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, queue.Size);
            Span<byte> entry = stackalloc byte[Descriptor.Size];
            new Descriptor(address, length, flags, next).Write(entry);
            if (!queue.Memory.TryWrite(queue.DescriptorGpa + (ulong)index * Descriptor.Size, entry))
                throw new InvalidOperationException("the descriptor table is outside guest memory");
        }

        /// <summary>Writes avail.ring[slot % N].</summary>
        public void WriteAvailableRaw(ushort slot, ushort head) =>
            Store16(queue, queue.AvailableGpa + (ulong)RingLayout.AvailRingOffset(slot & (uint)(queue.Size - 1)), head, release: false);

        /// <summary>Release-stores avail.idx without touching the driver's bookkeeping: the ring
        /// entries written before it are visible to the device first, as a real driver's are.</summary>
        public void SetAvailableIndexRaw(ushort index) =>
            Store16(queue, queue.AvailableGpa + RingLayout.AvailIdxOffset, index, release: true);

        /// <summary>Writes avail.flags.</summary>
        public void SetAvailableFlagsRaw(ushort flags) =>
            Store16(queue, queue.AvailableGpa + RingLayout.AvailFlagsOffset, flags, release: false);

        /// <summary>Writes used_event.</summary>
        public void SetUsedEventRaw(ushort usedEvent) =>
            Store16(queue, queue.AvailableGpa + (ulong)RingLayout.UsedEventOffset(queue.Size), usedEvent, release: false);

        /// <summary>used.flags as the device left it.</summary>
        public ushort UsedFlags => Load16(queue, queue.UsedGpa + RingLayout.UsedFlagsOffset);

        /// <summary>avail_event as the device left it.</summary>
        public ushort AvailEvent => Load16(queue, queue.UsedGpa + (ulong)RingLayout.AvailEventOffset(queue.Size));
    }

    private static ref ushort Field(DriverQueue queue, ulong gpa)
    {
        if (!queue.Memory.TryGetHostPointer(gpa, sizeof(ushort), out nint host))
            throw new InvalidOperationException($"ring field at 0x{gpa:X} is outside guest memory");
        // SAFETY: the translation checked that both bytes lie inside a mapped region, and ring
        // fields are 2-byte aligned (the queue's constructor checked the ring alignment).
        return ref Unsafe.AsRef<ushort>((void*)host);
    }

    private static void Store16(DriverQueue queue, ulong gpa, ushort value, bool release)
    {
        ushort wire = BitConverter.IsLittleEndian ? value : BinaryPrimitives.ReverseEndianness(value);
        ref ushort field = ref Field(queue, gpa);
        if (release) Volatile.Write(ref field, wire);
        else field = wire;
    }

    private static ushort Load16(DriverQueue queue, ulong gpa)
    {
        ushort wire = Volatile.Read(ref Field(queue, gpa));
        return BitConverter.IsLittleEndian ? wire : BinaryPrimitives.ReverseEndianness(wire);
    }
}
