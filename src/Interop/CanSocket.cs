using System.Runtime.InteropServices;
using System.Text;

namespace VhostDeviceCan.Interop;

/// <summary>
/// A non-blocking SocketCAN raw socket bound to one interface. Frames are passed as the kernel's
/// own layouts: 16 bytes (<c>struct can_frame</c>) or, when the interface carries CAN FD,
/// 72 bytes (<c>struct canfd_frame</c>).
/// </summary>
/// <remarks>
/// Send and Receive report errno values instead of throwing: on the data path EAGAIN, ENOBUFS and
/// ENETDOWN are ordinary events (the caller keeps the frame and retries on EPOLLOUT, or reports
/// the bus as down), and exceptions there would cost an allocation per frame.
/// </remarks>
public sealed class CanSocket : IDisposable
{
    private CanSocket(FileDescriptor descriptor, string interfaceName, int interfaceIndex, int mtu)
    {
        Descriptor = descriptor;
        InterfaceName = interfaceName;
        InterfaceIndex = interfaceIndex;
        Mtu = mtu;
    }

    public FileDescriptor Descriptor { get; }

    /// <summary>For epoll: readable when frames (or a pending socket error) wait, writable when a send would not block.</summary>
    public int Fd => Descriptor.Value;

    public string InterfaceName { get; }
    public int InterfaceIndex { get; }

    /// <summary>The interface MTU when the socket was opened: <see cref="Libc.CAN_MTU"/> or <see cref="Libc.CANFD_MTU"/>.</summary>
    public int Mtu { get; }

    /// <summary>Whether 72-byte CAN FD frames can be sent and received (the interface MTU is CANFD_MTU).</summary>
    public bool FdFrames { get; private set; }

    /// <summary>
    /// Opens a raw CAN socket on <paramref name="interfaceName"/> and enables CAN FD frames exactly
    /// when the interface MTU says it carries them. Throws <see cref="SyscallException"/> naming the
    /// interface: EAFNOSUPPORT when the kernel has no AF_CAN (modules can, can-raw), ENODEV when the
    /// interface does not exist or is not a CAN interface.
    /// </summary>
    // SAFETY: ioctl and bind read or write only the local request and address structs they are given.
    public static unsafe CanSocket Open(string interfaceName)
    {
        ArgumentNullException.ThrowIfNull(interfaceName);
        if (interfaceName.Length == 0 || interfaceName.Contains('\0') ||
            Encoding.UTF8.GetByteCount(interfaceName) >= Libc.IFNAMSIZ)
            throw new ArgumentException($"\"{interfaceName}\" is not a valid interface name (1..{Libc.IFNAMSIZ - 1} bytes)", nameof(interfaceName));

        int fd = Libc.socket(Libc.PF_CAN, Libc.SOCK_RAW | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, Libc.CAN_RAW);
        if (fd < 0) throw SyscallException.FromLast($"socket(PF_CAN, SOCK_RAW, CAN_RAW) for CAN interface {interfaceName}");
        var descriptor = new FileDescriptor(fd);
        try
        {
            var request = InterfaceRequest(interfaceName);
            if (Libc.ioctl(fd, Libc.SIOCGIFINDEX, &request) < 0)
                throw SyscallException.FromLast($"ioctl(SIOCGIFINDEX) looking up CAN interface {interfaceName}");
            int index = request.Value;

            request = InterfaceRequest(interfaceName);
            if (Libc.ioctl(fd, Libc.SIOCGIFMTU, &request) < 0)
                throw SyscallException.FromLast($"ioctl(SIOCGIFMTU) on CAN interface {interfaceName}");
            int mtu = request.Value;

            var socket = new CanSocket(descriptor, interfaceName, index, mtu);
            // Enabled before bind so that no FD frame arriving in between is dropped for a
            // classic-only socket.
            if (mtu == Libc.CANFD_MTU)
            {
                socket.SetOption(Libc.CAN_RAW_FD_FRAMES, 1, "CAN_RAW_FD_FRAMES");
                socket.FdFrames = true;
            }

            var address = new Libc.SockAddrCan { Family = Libc.AF_CAN, IfIndex = index };
            // bind refuses (ENODEV) an interface that exists but is not CAN, such as lo.
            if (Libc.bind(fd, &address, (uint)sizeof(Libc.SockAddrCan)) < 0)
                throw SyscallException.FromLast($"bind to CAN interface {interfaceName}");
            return socket;
        }
        catch
        {
            descriptor.Dispose();
            throw;
        }
    }

    /// <summary>
    /// CAN_RAW_RECV_OWN_MSGS: frames this socket sends come back to it once the interface has
    /// transmitted them, flagged MSG_CONFIRM (see <see cref="CanReceiveBuffer.IsConfirmation"/>).
    /// Off by default.
    /// </summary>
    public bool ReceiveOwnMessages
    {
        set => SetOption(Libc.CAN_RAW_RECV_OWN_MSGS, value ? 1 : 0, "CAN_RAW_RECV_OWN_MSGS");
    }

    /// <summary>
    /// CAN_RAW_LOOPBACK: whether frames this socket sends reach other sockets on this host
    /// (on by default). Off also suppresses <see cref="ReceiveOwnMessages"/> confirmations.
    /// </summary>
    public bool Loopback
    {
        set => SetOption(Libc.CAN_RAW_LOOPBACK, value ? 1 : 0, "CAN_RAW_LOOPBACK");
    }

    /// <summary>
    /// SO_RXQ_OVFL: whether <see cref="Receive"/> counts the frames the kernel dropped for this
    /// socket because its receive queue was full (<see cref="ReceiveQueueOverflows"/>). The kernel
    /// reports the count with the next frame it queues, so drops show once a frame follows them.
    /// </summary>
    // SAFETY: setsockopt reads the 4-byte local value only.
    public unsafe bool CountReceiveQueueOverflows
    {
        set
        {
            int on = value ? 1 : 0;
            if (Libc.setsockopt(Fd, Libc.SOL_SOCKET, Libc.SO_RXQ_OVFL, &on, sizeof(int)) < 0)
                throw SyscallException.FromLast($"setsockopt(SO_RXQ_OVFL) on {InterfaceName}");
        }
    }

    /// <summary>Frames the kernel dropped for this socket since it was opened because its receive
    /// queue was full, as far as received frames have reported (<see cref="CountReceiveQueueOverflows"/>).
    /// Written by the receiving thread, readable from any.</summary>
    public long ReceiveQueueOverflows => Volatile.Read(ref _receiveQueueOverflows);

    private long _receiveQueueOverflows;
    private uint _lastDropCount;

    /// <summary>CAN_RAW_ERR_FILTER: the error classes (Libc.CAN_ERR_*) delivered as error frames; 0 (default) for none.</summary>
    public uint ErrorMask
    {
        set => SetOption(Libc.CAN_RAW_ERR_FILTER, (int)value, "CAN_RAW_ERR_FILTER");
    }

    /// <summary>
    /// Asks for a receive buffer of <paramref name="bytes"/> (the kernel doubles it for its own
    /// bookkeeping): SO_RCVBUFFORCE, which may exceed net.core.rmem_max, when the process has
    /// CAP_NET_ADMIN, else SO_RCVBUF, which the kernel caps at rmem_max. CAN has no flow control,
    /// so frames that arrive while the buffer is full are dropped for this socket only. Returns the
    /// size the kernel granted (SO_RCVBUF as read back).
    /// </summary>
    // SAFETY: setsockopt and getsockopt touch only the local ints (4 bytes each).
    public unsafe int RequestReceiveBuffer(int bytes)
    {
        const int SO_RCVBUFFORCE = 33;
        if (Libc.setsockopt(Fd, Libc.SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(int)) < 0 &&
            Libc.setsockopt(Fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF, &bytes, sizeof(int)) < 0)
            throw SyscallException.FromLast($"setsockopt(SO_RCVBUF) on {InterfaceName}");
        int granted = 0;
        uint length = sizeof(int);
        Libc.getsockopt(Fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF, &granted, &length);
        return granted;
    }

    /// <summary>CAN_RAW_FILTER: only frames matching one of <paramref name="filters"/> are received; none blocks all data frames.</summary>
    public unsafe void SetFilters(ReadOnlySpan<Libc.CanFilter> filters)
    {
        // SAFETY: filters stays pinned while setsockopt copies exactly filters.Length entries.
        fixed (Libc.CanFilter* values = filters)
        {
            if (Libc.setsockopt(Fd, Libc.SOL_CAN_RAW, Libc.CAN_RAW_FILTER, values,
                    (uint)(filters.Length * sizeof(Libc.CanFilter))) < 0)
                throw SyscallException.FromLast($"setsockopt(CAN_RAW_FILTER) on {InterfaceName}");
        }
    }

    /// <summary>
    /// Sends one frame: exactly <see cref="Libc.CAN_MTU"/> bytes, or <see cref="Libc.CANFD_MTU"/>
    /// when <see cref="FdFrames"/> is on. Returns 0 when the stack took it, otherwise the errno:
    /// EAGAIN or ENOBUFS (queue full: keep the frame, retry on EPOLLOUT), ENETDOWN (interface down),
    /// EINVAL (the kernel rejected the frame's contents).
    /// </summary>
    public unsafe int Send(ReadOnlySpan<byte> frame)
    {
        if (frame.Length != Libc.CAN_MTU && !(frame.Length == Libc.CANFD_MTU && FdFrames))
            throw new ArgumentException(
                $"a CAN frame is {Libc.CAN_MTU} bytes{(FdFrames ? $" or {Libc.CANFD_MTU}" : $" ({InterfaceName} does not carry CAN FD)")}, not {frame.Length}",
                nameof(frame));
        // SAFETY: frame stays pinned while write reads exactly frame.Length bytes.
        fixed (byte* bytes = frame)
        {
            while (true)
            {
                nint written = Libc.write(Fd, bytes, (nuint)frame.Length);
                if (written == frame.Length) return 0;
                // CAN raw sockets take a frame whole or not at all.
                if (written >= 0) throw new InvalidOperationException($"write to {InterfaceName} took {written} of {frame.Length} bytes");
                int errno = Errno.Last;
                if (errno != Errno.EINTR) return errno;
            }
        }
    }

    /// <summary>
    /// Receives every waiting frame that fits into <paramref name="buffer"/> with one recvmmsg.
    /// Returns 0 with <paramref name="count"/> &gt; 0, or 0 with count 0 when nothing waits
    /// (EAGAIN), or an errno with count 0; ENETDOWN after the interface went down and ENODEV
    /// after it vanished are reported once, then reception goes on. Allocates nothing.
    /// </summary>
    public int Receive(CanReceiveBuffer buffer, out int count)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        while (true)
        {
            int received = buffer.ReceiveFrom(Fd);
            if (received >= 0)
            {
                count = received;
                // The kernel's count is cumulative, so the batch's last frame carries the newest.
                if (received > 0 && buffer.TryGetDropCount(received - 1, out uint drops) && drops != _lastDropCount)
                {
                    Volatile.Write(ref _receiveQueueOverflows, _receiveQueueOverflows + unchecked(drops - _lastDropCount));
                    _lastDropCount = drops;
                }
                return 0;
            }
            count = 0;
            int errno = Errno.Last;
            if (errno == Errno.EINTR) continue;
            return errno == Errno.EAGAIN ? 0 : errno;
        }
    }

    /// <summary>
    /// Whether <paramref name="interfaceName"/> exists, is administratively up and running, and
    /// which index it has now (an interface deleted and created again gets a new one). Reads
    /// link state on demand, without a netlink subscription.
    /// </summary>
    // SAFETY: ioctl reads and writes only the local ifreq.
    public static unsafe bool TryGetLinkState(string interfaceName, out int index, out bool up)
    {
        index = 0;
        up = false;
        int fd = Libc.socket(Libc.PF_CAN, Libc.SOCK_RAW | Libc.SOCK_CLOEXEC, Libc.CAN_RAW);
        if (fd < 0) return false;
        try
        {
            var request = InterfaceRequest(interfaceName);
            if (Libc.ioctl(fd, Libc.SIOCGIFINDEX, &request) < 0) return false;
            index = request.Value;
            request = InterfaceRequest(interfaceName);
            if (Libc.ioctl(fd, Libc.SIOCGIFFLAGS, &request) < 0) return false;
            short flags = (short)request.Value;
            up = (flags & Libc.IFF_UP) != 0 && (flags & Libc.IFF_RUNNING) != 0;
            return true;
        }
        finally
        {
            Libc.close(fd);
        }
    }

    // SAFETY: setsockopt reads the 4-byte local value only.
    private unsafe void SetOption(int option, int value, string name)
    {
        if (Libc.setsockopt(Fd, Libc.SOL_CAN_RAW, option, &value, sizeof(int)) < 0)
            throw SyscallException.FromLast($"setsockopt({name}) on {InterfaceName}");
    }

    // SAFETY: the name goes into the IFNAMSIZ inline buffer through a span one byte shorter, leaving the terminating zero.
    private static unsafe Libc.IfReq InterfaceRequest(string name)
    {
        var request = new Libc.IfReq();
        Encoding.UTF8.GetBytes(name, new Span<byte>(request.Name, Libc.IFNAMSIZ - 1));
        return request;
    }

    public void Dispose() => Descriptor.Dispose();
}

/// <summary>
/// Preallocated, pinned room for a batch of received CAN frames and the recvmmsg headers that
/// point at them. Reused across <see cref="CanSocket.Receive"/> calls; slot i holds frame i of
/// the last batch.
/// </summary>
public sealed class CanReceiveBuffer : IDisposable
{
    // SAFETY: these three native blocks are allocated once in the constructor and freed only by Release (Dispose or the finalizer); every member that reads them first checks the index against the last batch, and ReceiveFrom throws once disposed.
    private readonly unsafe byte* _frames;
    private readonly unsafe Libc.IoVec* _iovecs;
    private readonly unsafe Libc.MMsgHdr* _headers;
    private readonly unsafe byte* _controls;
    private int _count;

    /// <summary>Room for one SO_RXQ_OVFL control message (a cmsghdr and a u32) per frame.</summary>
    private static readonly int ControlSpace = Libc.CmsgSpace(sizeof(uint));
    private bool _disposed;

    // SAFETY: each slot is CANFD_MTU bytes of the capacity * CANFD_MTU block; each header points at its own iovec, inside the blocks allocated just above.
    public unsafe CanReceiveBuffer(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, 1024);
        Capacity = capacity;
        _frames = (byte*)NativeMemory.AlignedAlloc((nuint)(capacity * Libc.CANFD_MTU), 8);
        _iovecs = (Libc.IoVec*)NativeMemory.AllocZeroed((nuint)(capacity * sizeof(Libc.IoVec)));
        _headers = (Libc.MMsgHdr*)NativeMemory.AllocZeroed((nuint)(capacity * sizeof(Libc.MMsgHdr)));
        _controls = (byte*)NativeMemory.AlignedAlloc((nuint)(capacity * ControlSpace), 8);
        for (int i = 0; i < capacity; i++)
        {
            _headers[i].Header.Control = _controls + i * ControlSpace;
            // Every slot fits an FD frame; the kernel writes 16 bytes for a classic one.
            _iovecs[i] = new Libc.IoVec { Base = _frames + i * Libc.CANFD_MTU, Length = Libc.CANFD_MTU };
            _headers[i].Header.Iov = &_iovecs[i];
            _headers[i].Header.IovLength = 1;
        }
    }

    public int Capacity { get; }

    /// <summary>Frames held from the last receive.</summary>
    public int Count => _count;

    /// <summary>Frame <paramref name="index"/>: 16 bytes (classic) or 72 (CAN FD).</summary>
    // SAFETY: the span covers one checked slot of native memory; it is valid only until the next receive overwrites the slot or Dispose frees it, so callers copy what they keep before either.
    public unsafe ReadOnlySpan<byte> Frame(int index) => new(_frames + Check(index) * Libc.CANFD_MTU, (int)_headers[index].Length);

    // SAFETY: a checked index into the header block.
    public unsafe int Length(int index) => (int)_headers[Check(index)].Length;

    public bool IsFd(int index) => Length(index) == Libc.CANFD_MTU;

    /// <summary>The frame's CAN ID word, flags (EFF, RTR, ERR) included.</summary>
    // SAFETY: a checked slot; the 4-byte ID word is the first field of every frame.
    public unsafe uint CanId(int index) => *(uint*)(_frames + Check(index) * Libc.CANFD_MTU);

    /// <summary>msg_flags of the frame: MSG_CONFIRM, MSG_DONTROUTE.</summary>
    // SAFETY: a checked index into the header block.
    public unsafe int MessageFlags(int index) => _headers[Check(index)].Header.Flags;

    /// <summary>MSG_CONFIRM: this socket's own frame, echoed after the interface transmitted it.</summary>
    public bool IsConfirmation(int index) => (MessageFlags(index) & Libc.MSG_CONFIRM) != 0;

    /// <summary>One recvmmsg; the raw result (-1 with errno set on failure).</summary>
    // SAFETY: recvmmsg writes at most Capacity frames of CANFD_MTU bytes, each into the slot its header points at.
    internal unsafe int ReceiveFrom(int fd)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _count = 0;
        for (int i = 0; i < Capacity; i++)
        {
            _headers[i].Header.Flags = 0;
            _headers[i].Header.ControlLength = (nuint)ControlSpace;
            _headers[i].Length = 0;
        }
        int received = Libc.recvmmsg(fd, _headers, (uint)Capacity, Libc.MSG_DONTWAIT, null);
        if (received > 0) _count = received;
        return received;
    }

    /// <summary>The SO_RXQ_OVFL count frame <paramref name="index"/> carried, when it carried one.</summary>
    // SAFETY: a checked slot; the control message is read only within the length the kernel wrote, which is at most ControlSpace.
    internal unsafe bool TryGetDropCount(int index, out uint drops)
    {
        drops = 0;
        ref Libc.MsgHdr header = ref _headers[Check(index)].Header;
        if ((int)header.ControlLength < sizeof(Libc.CmsgHdr) + sizeof(uint)) return false;
        var message = (Libc.CmsgHdr*)header.Control;
        if (message->Level != Libc.SOL_SOCKET || message->Type != Libc.SO_RXQ_OVFL) return false;
        drops = *(uint*)((byte*)message + sizeof(Libc.CmsgHdr));
        return true;
    }

    private int Check(int index) =>
        (uint)index < (uint)_count ? index : throw new ArgumentOutOfRangeException(nameof(index), index, $"{_count} frames held");

    // SAFETY: the disposed flag makes the frees run once; no member touches the blocks afterwards.
    private unsafe void Release()
    {
        if (_disposed) return;
        _disposed = true;
        _count = 0;
        NativeMemory.AlignedFree(_frames);
        NativeMemory.Free(_iovecs);
        NativeMemory.Free(_headers);
        NativeMemory.AlignedFree(_controls);
    }

    ~CanReceiveBuffer() => Release();

    public void Dispose()
    {
        Release();
        GC.SuppressFinalize(this);
    }
}
