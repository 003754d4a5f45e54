using VhostDeviceCan.Frontend;
using VhostDeviceCan.Interop;
using VhostDeviceCan.VhostUser;

namespace VhostDeviceCan.Backend.Tests;

/// <summary>
/// One malformed request. <see cref="HasOwnReply"/>: a request with a reply of its own (GET_*),
/// which REPLY_ACK cannot turn into an ack (docs/spec/vhost-user.md §7), so refusing it closes the connection.
/// </summary>
public sealed record BadMessage(string Name, FrontendRequest Request, Setup Setup, Func<VirtioFrontend, byte[]> Payload, int Fds = 0, bool HasOwnReply = false, bool RamFd = false)
{
    public override string ToString() => Name;

    /// <summary>Sends the message with the given flags, passing <see cref="Fds"/> fresh eventfds (or the RAM memfd for memory requests and <see cref="RamFd"/>).</summary>
    public void Send(VirtioFrontend frontend, uint flags)
    {
        byte[] payload = Payload(frontend);
        var owned = new List<IDisposable>();
        var fds = new int[Fds];
        for (int i = 0; i < Fds; i++)
        {
            if (RamFd || Request is FrontendRequest.SET_MEM_TABLE or FrontendRequest.ADD_MEM_REG)
            {
                fds[i] = frontend.Ram.Regions[0].Fd;
            }
            else
            {
                var fd = new EventFd();
                owned.Add(fd);
                fds[i] = fd.Fd;
            }
        }
        frontend.Client.SendRaw((uint)Request, flags, payload, fds);
        foreach (var fd in owned) fd.Dispose();
    }

    public static byte[] U64(ulong value) => BitConverter.GetBytes(value);

    public static byte[] State(uint index, uint num) => [.. BitConverter.GetBytes(index), .. BitConverter.GetBytes(num)];

    public static byte[] Bytes(int count) => new byte[count];

    public static byte[] Of<T>(T value) where T : unmanaged
    {
        var bytes = new byte[System.Runtime.CompilerServices.Unsafe.SizeOf<T>()];
        VhostUser.Payload.Write(bytes, value);
        return bytes;
    }

    public static byte[] MemTable(uint count, uint padding, params MemoryRegion[] regions)
    {
        var bytes = new byte[MemoryTableHeader.PayloadLength(regions.Length)];
        VhostUser.Payload.Write(bytes, new MemoryTableHeader(count, padding));
        for (int i = 0; i < regions.Length; i++)
            VhostUser.Payload.Write(bytes.AsSpan(MemoryTableHeader.PayloadLength(i)), regions[i]);
        return bytes;
    }

    public static byte[] Config(uint offset, uint size, int dataLength)
    {
        var bytes = new byte[ConfigHeader.Length + dataLength];
        VhostUser.Payload.Write(bytes, new ConfigHeader(offset, size, 0));
        return bytes;
    }

    /// <summary>Queue 0's real ring addresses with one of them changed.</summary>
    public static byte[] Addr(VirtioFrontend f, uint index = 0, ulong descDelta = 0, ulong usedDelta = 0, ulong availDelta = 0, uint flags = 0, ulong? desc = null)
    {
        var q = f.Queue(0);
        ulong d = desc ?? f.Ram.UserAddress(q.DescriptorGpa) + descDelta;
        return Of(new VringAddress(index, flags, d, f.Ram.UserAddress(q.UsedGpa) + usedDelta, f.Ram.UserAddress(q.AvailableGpa) + availDelta, 0));
    }
}
