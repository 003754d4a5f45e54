using VhostDeviceCan.Interop;

namespace VhostDeviceCan.Virtqueue.Tests;

/// <summary>Guest RAM for tests: memfd-backed regions, mapped the way the back-end maps them.</summary>
internal static class TestMemory
{
    public const ulong Gpa = 0x1_0000_0000;
    public const ulong Uva = 0x7f00_0000_0000;

    /// <summary>One region of <paramref name="size"/> bytes at <see cref="Gpa"/> / <see cref="Uva"/>.</summary>
    public static GuestMemory Single(ulong size = 1 << 20, ulong gpa = Gpa, ulong uva = Uva, ulong mmapOffset = 0)
    {
        using var fd = MemFd.Create("guest", (long)(size + mmapOffset));
        return new GuestMemory([GuestMemoryRegion.Map(fd, gpa, size, uva, mmapOffset)]);
    }

    /// <summary>
    /// Two GPA-contiguous regions cut from one memfd at different offsets (like the two sides of the
    /// x86 PCI hole): <c>[gpa, gpa+first)</c> is file bytes <c>[firstOffset, …)</c> and the next
    /// <paramref name="second"/> bytes are file bytes starting at <paramref name="secondOffset"/>.
    /// </summary>
    public static GuestMemory TwoContiguous(ulong first, ulong second, ulong firstOffset, ulong secondOffset, ulong gpa = Gpa)
    {
        using var fd = MemFd.Create("guest", (long)Math.Max(firstOffset + first, secondOffset + second));
        return new GuestMemory([
            GuestMemoryRegion.Map(fd, gpa, first, Uva, firstOffset),
            GuestMemoryRegion.Map(fd, gpa + first, second, Uva + 0x1000_0000, secondOffset),
        ]);
    }

    public static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++) bytes[i] = (byte)(i * 31 + seed * 7 + (i >> 8));
        return bytes;
    }
}
