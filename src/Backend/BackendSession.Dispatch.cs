using Microsoft.Extensions.Logging;
using VhostDeviceCan.VhostUser;
using static VhostDeviceCan.VhostUser.FrontendRequest;

namespace VhostDeviceCan.Backend;

public sealed partial class BackendSession
{
    /// <summary>Largest number of memory regions kept at once (GET_MAX_MEM_SLOTS).</summary>
    public const int MaxMemorySlots = 32;

    /// <summary>The protocol features this back-end offers (docs/spec/vhost-user.md §4, the CAN set plus the
    /// optional ones it implements).</summary>
    public static ProtocolFeatures OfferedProtocolFeatures =>
        ProtocolFeatures.MQ | ProtocolFeatures.REPLY_ACK | ProtocolFeatures.BACKEND_REQ | ProtocolFeatures.CONFIG
        | ProtocolFeatures.CONFIGURE_MEM_SLOTS | ProtocolFeatures.STATUS | ProtocolFeatures.RESET_DEVICE;

    /// <summary>
    /// Handles one request. A refused request is answered with a failed REPLY_ACK when the front-end
    /// asked for one; otherwise the connection is closed, since the front-end would go on believing
    /// the request succeeded (docs/spec/vhost-user.md §7, docs/spec/vhost-user.md §12).
    /// </summary>
    private void Dispatch(in MessageHeader header, ReadOnlySpan<byte> payload)
    {
        var request = (FrontendRequest)header.Request;
        if (Logger.IsEnabled(LogLevel.Trace))
            Logger.LogTrace("{Name}: {Request} size {Size} fds {Fds} flags 0x{Flags:x}", Name, request, header.Size, _fds.Count, header.Flags);
        bool replied;
        try
        {
            replied = Handle(request, payload);
        }
        catch (VhostUserException e) when (!e.DropConnection)
        {
            if (header.NeedsReply && Negotiated(ProtocolFeatures.REPLY_ACK) && !HasOwnReply(request))
            {
                Logger.LogWarning("{Name}: refused {Request}: {Reason}", Name, request, e.Message);
                _connection.SendReply(header.Request, 1UL);
                return;
            }
            throw new VhostUserException(e.Error, $"refused {request}: {e.Message}", dropConnection: true, e);
        }
        if (!replied && header.NeedsReply && Negotiated(ProtocolFeatures.REPLY_ACK))
            _connection.SendReply(header.Request, 0UL);
    }

    private const bool Replied = true, AckIfAsked = false;

    /// <summary>Size or fd count that depends on the payload; the handler checks it.</summary>
    private const int Variable = -1;

    /// <summary>
    /// Every arm takes the same steps in the same order: <see cref="Accept"/> (protocol feature,
    /// payload size, fd count), the handler, then <see cref="Replied"/> when the handler sent the
    /// request's own reply or <see cref="AckIfAsked"/> for the REPLY_ACK that <see cref="Dispatch"/> sends.
    /// </summary>
    private bool Handle(FrontendRequest request, ReadOnlySpan<byte> payload)
    {
        const ProtocolFeatures none = ProtocolFeatures.None;
        switch (request)
        {
            case GET_FEATURES:
                Accept(none, payload, 0, 0); return Reply(request, OfferedFeatures);
            case SET_FEATURES:
                Accept(none, payload, U64Payload.Length, 0); SetFeatures(U64(payload)); return AckIfAsked;
            case SET_OWNER:
                Accept(none, payload, 0, 0); return AckIfAsked;
            case RESET_OWNER:
                Accept(none, payload, 0, 0); ResetDevice("RESET_OWNER"); return AckIfAsked;
            case GET_PROTOCOL_FEATURES:
                Accept(none, payload, 0, 0); return Reply(request, (ulong)OfferedProtocolFeatures);
            case SET_PROTOCOL_FEATURES:
                Accept(none, payload, U64Payload.Length, 0); SetProtocolFeatures((ProtocolFeatures)U64(payload)); return AckIfAsked;
            case GET_QUEUE_NUM:
                Accept(ProtocolFeatures.MQ, payload, 0, 0); return Reply(request, (ulong)_vrings.Length);
            case GET_MAX_MEM_SLOTS:
                Accept(ProtocolFeatures.CONFIGURE_MEM_SLOTS, payload, 0, 0); return Reply(request, MaxMemorySlots);
            case SET_MEM_TABLE:
                Accept(none, payload, Variable, Variable); SetMemTable(payload); return AckIfAsked;
            case ADD_MEM_REG:
                Accept(ProtocolFeatures.CONFIGURE_MEM_SLOTS, payload, SingleMemoryRegion.Length, 1); AddMemoryRegion(Payload.Read<SingleMemoryRegion>(payload)); return AckIfAsked;
            case REM_MEM_REG:
                Accept(ProtocolFeatures.CONFIGURE_MEM_SLOTS, payload, SingleMemoryRegion.Length, Variable); RemoveMemoryRegion(Payload.Read<SingleMemoryRegion>(payload)); return AckIfAsked;
            case SET_VRING_NUM:
                Accept(none, payload, VringState.Length, 0); SetVringNum(Payload.Read<VringState>(payload)); return AckIfAsked;
            case SET_VRING_ADDR:
                Accept(none, payload, VringAddress.Length, 0); SetVringAddress(Payload.Read<VringAddress>(payload)); return AckIfAsked;
            case SET_VRING_BASE:
                Accept(none, payload, VringState.Length, 0); SetVringBase(Payload.Read<VringState>(payload)); return AckIfAsked;
            case GET_VRING_BASE:
                Accept(none, payload, VringState.Length, 0); GetVringBase(Payload.Read<VringState>(payload)); return Replied;
            case SET_VRING_KICK or SET_VRING_CALL or SET_VRING_ERR:
                Accept(none, payload, U64Payload.Length, Variable); SetVringFd(request, new VringFdPayload(U64(payload))); return AckIfAsked;
            case SET_VRING_ENABLE:
                Accept(none, payload, VringState.Length, 0); SetVringEnable(Payload.Read<VringState>(payload)); return AckIfAsked;
            case GET_CONFIG:
                Accept(ProtocolFeatures.CONFIG, payload, Variable, Variable); GetConfig(payload); return Replied;
            case SET_CONFIG:
                Accept(ProtocolFeatures.CONFIG, payload, Variable, Variable); SetConfig(payload); return AckIfAsked;
            case SET_BACKEND_REQ_FD:
                Accept(ProtocolFeatures.BACKEND_REQ, payload, 0, 1); SetBackendChannel(); return AckIfAsked;
            case GET_STATUS:
                Accept(ProtocolFeatures.STATUS, payload, 0, 0); return Reply(request, _driver.Status);
            case SET_STATUS:
                Accept(ProtocolFeatures.STATUS, payload, U64Payload.Length, 0); SetStatus(U64(payload)); return AckIfAsked;
            case RESET_DEVICE:
                Accept(ProtocolFeatures.RESET_DEVICE, payload, 0, 0); ResetDevice("RESET_DEVICE"); return AckIfAsked;
            case SET_LOG_BASE or SET_LOG_FD or SEND_RARP or NET_SET_MTU or IOTLB_MSG or SET_VRING_ENDIAN
                or CREATE_CRYPTO_SESSION or CLOSE_CRYPTO_SESSION or POSTCOPY_ADVISE or POSTCOPY_LISTEN
                or POSTCOPY_END or GET_INFLIGHT_FD or SET_INFLIGHT_FD or GPU_SET_SOCKET or VRING_KICK
                or GET_SHARED_OBJECT or SET_DEVICE_STATE_FD or CHECK_DEVICE_STATE:
                // Known requests whose protocol features this back-end never offers.
                throw Refuse(VhostUserError.InvalidState, "its protocol feature was not offered");
            default:
                // docs/spec/vhost-user.md §2: never guess a reply to an unknown request; the stream's meaning is lost.
                throw new VhostUserException(VhostUserError.UnknownRequest, $"unknown request code {(uint)request}", dropConnection: true);
        }
    }

    private static bool HasOwnReply(FrontendRequest request) => request is GET_FEATURES or GET_PROTOCOL_FEATURES
        or GET_QUEUE_NUM or GET_MAX_MEM_SLOTS or GET_VRING_BASE or GET_CONFIG or GET_STATUS or SET_LOG_BASE
        or GET_INFLIGHT_FD or IOTLB_MSG or POSTCOPY_ADVISE or CHECK_DEVICE_STATE or SET_DEVICE_STATE_FD;

    private bool Reply(FrontendRequest request, ulong value)
    {
        _connection.SendReply((uint)request, value);
        return true;
    }

    private bool Negotiated(ProtocolFeatures feature) => (_ackedProtocolFeatures & feature) == feature;

    /// <summary>The checks every request passes before its handler: the protocol feature it needs
    /// was negotiated, then its payload size and fd count (<see cref="Variable"/>: the handler checks).</summary>
    private void Accept(ProtocolFeatures requires, ReadOnlySpan<byte> payload, int size, int fds)
    {
        if (!Negotiated(requires)) throw Refuse(VhostUserError.InvalidState, $"protocol feature {requires} was not negotiated");
        if (size != Variable) ExpectSize(payload, size);
        if (fds != Variable) ExpectFds(fds);
    }

    private void Expect(ReadOnlySpan<byte> payload, int size, int fds)
    {
        ExpectSize(payload, size);
        ExpectFds(fds);
    }

    private void ExpectFds(int fds)
    {
        if (_fds.Count != fds) throw Refuse(VhostUserError.WrongFdCount, $"expected {fds} fd(s), got {_fds.Count}");
    }

    private static ulong U64(ReadOnlySpan<byte> payload) => Payload.Read<U64Payload>(payload).Value;

    private static void ExpectSize(ReadOnlySpan<byte> payload, int size)
    {
        if (payload.Length != size)
            throw Refuse(VhostUserError.InvalidPayloadSize, $"payload is {payload.Length} bytes, expected {size}");
    }

    private static VhostUserException Refuse(VhostUserError error, string reason) => new(error, reason);

    private Vring Ring(uint index) => index < (uint)_vrings.Length
        ? _vrings[index]
        : throw Refuse(VhostUserError.InvalidPayload, $"queue index {index} out of range (device has {_vrings.Length})");
}
