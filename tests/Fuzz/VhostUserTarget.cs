using Microsoft.Extensions.Logging;
using VhostDeviceCan.Backend;
using VhostDeviceCan.Can;
using VhostDeviceCan.Device;
using VhostDeviceCan.Interop;
using VhostDeviceCan.VhostUser;
using static VhostDeviceCan.VhostUser.FrontendRequest;

namespace VhostDeviceCan.Fuzz;

/// <summary>
/// vhost-user message decoding and dispatch against the CAN device: one <see cref="DeviceEventLoop"/>
/// serving a <see cref="CanDevice"/> on the virtual bus runs on its own thread for the whole fuzzing
/// process, and each input is one front-end connection to it. The input's messages go over a real
/// Unix socket with real fds (the guest RAM memfd, eventfds, a socket), the rings they set up can be
/// kicked and the bus can send frames, so the device's queues run against the input's guest RAM.
/// Any exception the loop or the device logs is a finding, and so is a loop that never closes the
/// connection (a hang).
/// </summary>
/// <remarks>
/// Input layout (little-endian; missing bytes read as zero):
/// <code>
/// u16 n, n bytes      the guest RAM file's first bytes (64 KiB, the rest zero)
/// then messages:      u32 request, u32 flags, u32 size, size bytes of payload (the last one may be cut short)
/// </code>
/// A message is sent as it is, with the fds the request carries: one memfd per region of
/// SET_MEM_TABLE, one for ADD_MEM_REG, an eventfd for SET_VRING_KICK/CALL/ERR unless bit 8 of the
/// payload says none, a socket for SET_BACKEND_REQ_FD, an eventfd for the other fd-carrying requests.
/// Bits 28-31 of flags, when not zero, send that number minus one of fds instead (and are cleared).
/// Two requests never reach the back-end: <see cref="KickRequest"/> + ring signals that ring's kick
/// eventfd, <see cref="BusFrameRequest"/> has another bus member send a frame (payload: u8 bit 0 FD,
/// bit 1 extended, bit 2 remote; u32 id; data). Before either, a GET_FEATURES is sent and its
/// reply awaited, so the back-end has handled every earlier message (the kick eventfd is
/// registered, the controller started) and each input runs the same way every time.
/// </remarks>
internal sealed class VhostUserTarget : IFuzzTarget, IDisposable
{
    public const int RamFileSize = 64 * 1024;
    public const uint KickRequest = 0x1000;
    public const uint BusFrameRequest = 0x1100;
    private const int MaxMessages = 256;

    private static int s_instances;
    private readonly string _name = $"fuzz-{Environment.ProcessId}-{Interlocked.Increment(ref s_instances)}";
    private readonly string _socketPath;
    private readonly UnixSocket _listener;
    private readonly CanDevice _device;
    private readonly DeviceEventLoop _loop;
    private readonly Thread _thread;
    private readonly VirtualCanBusMember _peer;
    private readonly FileDescriptor _ram = MemFd.Create("fuzz-guest-ram", RamFileSize);
    private readonly MemoryMapping _ramView;
    private readonly EventFd[] _kicks = [new(), new(), new()];
    private readonly EventFd _call = new();
    private readonly (UnixSocket Ours, UnixSocket Theirs) _backendChannel = UnixSocket.Pair();
    private readonly FindingLogger _logger = new();
    private readonly byte[] _message = new byte[MessageHeader.Length + MessageHeader.MaxPayload + 64 * 1024];
    private readonly CanFrame[] _frames = new CanFrame[64];
    private readonly TxOutcome[] _outcomes = new TxOutcome[64];
    private readonly ReceivedFds _replyFds = new();
    private int _featureRequestsSent;
    private int _featureRepliesSeen;

    public VhostUserTarget()
    {
        _ramView = MemoryMapping.Map(_ram, RamFileSize, 0);
        _socketPath = Path.Combine(Path.GetTempPath(), $"vhost-device-can-{_name}.sock");
        File.Delete(_socketPath);
        _listener = UnixSocket.Listen(_socketPath);
        var bus = new VirtualCanBus(_name);
        _device = new CanDevice(bus.Join());
        _peer = bus.Join();
        _loop = new DeviceEventLoop(_device, _listener, _logger, "fuzz");
        _thread = new Thread(_loop.Run) { IsBackground = true, Name = "fuzz device" };
        _thread.Start();
        _backendChannel.Ours.Descriptor.SetNonBlocking(true);
    }

    public string Name => "vhost-user";

    /// <summary>The device's counters (cumulative over inputs), and the frames it sent to the bus
    /// during the last input, so tests can check that a seed reaches the device.</summary>
    public CanDeviceCounters Counters => _device.Counters;
    public int LastFramesOnBus { get; private set; }

    public void Run(ReadOnlySpan<byte> data)
    {
        var input = new FuzzInput(data);
        FillRam(input.Bytes(input.U16()));
        _logger.Clear();
        // A kick the previous session never registered would otherwise fire in this one.
        foreach (var kick in _kicks) kick.Consume();
        _call.Consume();
        _featureRequestsSent = _featureRepliesSeen = 0;
        using (var client = UnixSocket.Connect(_socketPath))
        {
            SendMessages(client, ref input);
            client.ShutdownWrite();
            DrainUntilClosed(client);
        }
        DrainBackendChannel();
        LastFramesOnBus = 0;
        for (int n; (n = _peer.Receive(_frames, _outcomes, out _)) > 0;) LastFramesOnBus += n;
        if (_logger.Finding is { } finding) throw new FuzzFindingException(finding);
    }

    private void SendMessages(UnixSocket client, ref FuzzInput input)
    {
        Span<int> fds = stackalloc int[16];
        for (int sent = 0; sent < MaxMessages && !input.Rest.IsEmpty; sent++)
        {
            if (input.Rest.Length < MessageHeader.Length)
            {
                TrySend(client, input.Bytes(MessageHeader.Length), default);
                return;
            }
            uint request = input.U32(), flags = input.U32(), size = input.U32();
            ReadOnlySpan<byte> payload = input.Bytes((int)Math.Min(size, (uint)_message.Length - MessageHeader.Length));
            if (request - KickRequest < (uint)_kicks.Length)
            {
                if (!AllHandled(client)) return;
                _kicks[request - KickRequest].Signal();
                continue;
            }
            if (request == BusFrameRequest)
            {
                if (!AllHandled(client)) return;
                SendBusFrame(payload);
                continue;
            }
            if (request == (uint)GET_FEATURES) _featureRequestsSent++;
            int fdCount = flags >> 28 is var forced and not 0 ? (int)forced - 1 : FdsFor((FrontendRequest)request, payload);
            for (int i = 0; i < fdCount; i++) fds[i] = FdFor((FrontendRequest)request, payload);
            Payload.Write(_message, new MessageHeader(request, flags & 0x0FFF_FFFF, size));
            payload.CopyTo(_message.AsSpan(MessageHeader.Length));
            if (!TrySend(client, _message.AsSpan(0, MessageHeader.Length + payload.Length), fds[..fdCount])) return;
        }
    }

    /// <summary>
    /// Sends GET_FEATURES and reads replies until its own: every GET_FEATURES gets exactly one reply
    /// or the connection closes (refusing a request with a reply of its own drops the connection).
    /// False once the back-end has closed the connection.
    /// </summary>
    private bool AllHandled(UnixSocket client)
    {
        Payload.Write(_message, new MessageHeader((uint)GET_FEATURES, MessageHeader.Version, 0));
        if (!TrySend(client, _message.AsSpan(0, MessageHeader.Length), default)) return false;
        _featureRequestsSent++;
        try
        {
            while (_featureRepliesSeen < _featureRequestsSent)
            {
                if (!client.ReceiveExactly(_message.AsSpan(0, MessageHeader.Length), _replyFds)) return false;
                var reply = Payload.Read<MessageHeader>(_message);
                FuzzFindingException.Check(reply.IsReply && reply.Size <= MessageHeader.MaxPayload, $"malformed reply {reply}");
                if (reply.Size > 0 && !client.ReceiveExactly(_message.AsSpan(0, (int)reply.Size), _replyFds)) return false;
                if (reply.Request == (uint)GET_FEATURES) _featureRepliesSeen++;
            }
            return true;
        }
        catch (Exception e) when (e is SyscallException or EndOfStreamException)
        {
            return false;
        }
        finally
        {
            _replyFds.Dispose();
        }
    }

    private static int FdsFor(FrontendRequest request, ReadOnlySpan<byte> payload) => request switch
    {
        SET_MEM_TABLE => payload.Length >= 4 ? (int)Math.Min(BitConverter.ToUInt32(payload), MemoryTableHeader.MaxRegions) : 0,
        SET_VRING_KICK or SET_VRING_CALL or SET_VRING_ERR => payload.Length >= 2 && (payload[1] & 1) != 0 ? 0 : 1,
        ADD_MEM_REG or SET_BACKEND_REQ_FD or SET_LOG_BASE or SET_LOG_FD or SET_INFLIGHT_FD or SET_DEVICE_STATE_FD => 1,
        _ => 0,
    };

    private int FdFor(FrontendRequest request, ReadOnlySpan<byte> payload) => request switch
    {
        SET_MEM_TABLE or ADD_MEM_REG or REM_MEM_REG => _ram.Value,
        SET_VRING_KICK => _kicks[(payload.IsEmpty ? 0 : payload[0]) % _kicks.Length].Fd,
        SET_BACKEND_REQ_FD => _backendChannel.Theirs.Fd,
        _ => _call.Fd,
    };

    /// <summary>False once the back-end has closed the connection (it refused a message).</summary>
    private static bool TrySend(UnixSocket client, ReadOnlySpan<byte> bytes, ReadOnlySpan<int> fds)
    {
        try
        {
            client.Send(bytes, fds);
            return true;
        }
        catch (SyscallException)
        {
            return false;
        }
    }

    private void SendBusFrame(ReadOnlySpan<byte> payload)
    {
        var input = new FuzzInput(payload);
        byte kind = input.U8();
        bool fd = (kind & 1) != 0, extended = (kind & 2) != 0, remote = (kind & 4) != 0;
        uint id = input.U32() & (extended ? CanFrame.CAN_EFF_MASK : CanFrame.CAN_SFF_MASK);
        ReadOnlySpan<byte> bytes = input.Rest;
        CanFrame frame;
        if (fd) frame = CanFrame.Fd(id, extended, bytes[..Math.Min(bytes.Length, CanFrame.CANFD_MAX_DLEN)]);
        else if (remote) frame = new CanFrame { CanId = id | (extended ? CanFrame.CAN_EFF_FLAG : 0) | CanFrame.CAN_RTR_FLAG, Len = (byte)Math.Min(bytes.Length, CanFrame.CAN_MAX_DLEN) };
        else frame = CanFrame.Classic(id, extended, bytes[..Math.Min(bytes.Length, CanFrame.CAN_MAX_DLEN)]);
        _peer.Transmit(frame, default);
    }

    /// <summary>Reads replies until the back-end closes the connection, which it does once it has
    /// handled every message (or refused one) and reset the device.</summary>
    private void DrainUntilClosed(UnixSocket client)
    {
        using var fds = new ReceivedFds();
        try
        {
            while (client.Receive(_message, fds) > 0) fds.Dispose();
        }
        catch (SyscallException)
        {
            // ECONNRESET: the back-end closed with our last messages unread; it is done too.
        }
    }

    private void DrainBackendChannel()
    {
        try
        {
            while (_backendChannel.Ours.Receive(_message, null) > 0) { }
        }
        catch (SyscallException)
        {
            // EAGAIN: nothing more.
        }
    }

    private unsafe void FillRam(ReadOnlySpan<byte> contents)
    {
        // SAFETY: the view maps the whole RamFileSize-byte file, and at most that much is copied.
        var ram = new Span<byte>((void*)_ramView.Address, RamFileSize);
        ram.Clear();
        contents[..Math.Min(contents.Length, RamFileSize)].CopyTo(ram);
    }

    public void Dispose()
    {
        _loop.Stop();
        _thread.Join();
        _loop.Dispose();
        _device.Transport.Dispose();
        _device.Dispose();
        _peer.Dispose();
        _listener.Dispose();
        File.Delete(_socketPath);
        foreach (var kick in _kicks) kick.Dispose();
        _call.Dispose();
        _backendChannel.Ours.Dispose();
        _backendChannel.Theirs.Dispose();
        _ramView.Dispose();
        _ram.Dispose();
        _replyFds.Dispose();
    }

    /// <summary>Keeps the first exception the loop or the device logged: each is a bug. With
    /// FUZZ_TRACE=1 in the environment it also prints the whole log, to follow one input.</summary>
    private sealed class FindingLogger : ILogger
    {
        private static readonly bool Trace = Environment.GetEnvironmentVariable("FUZZ_TRACE") == "1";
        private volatile string? _finding;

        public string? Finding => _finding;

        public void Clear() => _finding = null;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => Trace || logLevel >= LogLevel.Error;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (Trace) Console.Error.WriteLine($"{logLevel}: {formatter(state, exception)}");
            if (exception is not null && logLevel >= LogLevel.Error)
                _finding ??= $"{formatter(state, exception)}: {exception}";
        }
    }
}
