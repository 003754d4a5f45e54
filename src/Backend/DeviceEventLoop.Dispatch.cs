using Microsoft.Extensions.Logging;
using VhostDeviceCan.VhostUser;
using static VhostDeviceCan.VhostUser.FrontendRequest;

namespace VhostDeviceCan.Backend;

public sealed partial class DeviceEventLoop
{
    /// <summary>Largest number of memory regions kept at once (GET_MAX_MEM_SLOTS).</summary>
    public const int MaxMemorySlots = 32;

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
            replied = Handle(request, header, payload);
        }
        catch (VhostUserException e) when (!e.DropConnection)
        {
            if (header.NeedsReply && Negotiated(ProtocolFeatures.REPLY_ACK) && !HasOwnReply(request))
            {
                Logger.LogWarning("{Name}: refused {Request}: {Reason}", Name, request, e.Message);
                _connection!.SendReply(header.Request, 1UL);
                return;
            }
            throw new VhostUserException(e.Error, $"refused {request}: {e.Message}", dropConnection: true, e);
        }
        if (!replied && header.NeedsReply && Negotiated(ProtocolFeatures.REPLY_ACK))
            _connection!.SendReply(header.Request, 0UL);
    }

    /// <summary>Returns true when the handler already sent the request's own reply.</summary>
    private bool Handle(FrontendRequest request, in MessageHeader header, ReadOnlySpan<byte> payload)
    {
        switch (request)
        {
            case GET_FEATURES:
                Expect(payload, 0, fds: 0);
                return Reply(request, OfferedFeatures);
            case SET_FEATURES:
                Expect(payload, U64Payload.Length, fds: 0);
                SetFeatures(Payload.Read<U64Payload>(payload).Value);
                return false;
            case SET_OWNER:
                Expect(payload, 0, fds: 0);
                return false;
            case RESET_OWNER:
                Expect(payload, 0, fds: 0);
                ResetDevice("RESET_OWNER");
                return false;
            case GET_PROTOCOL_FEATURES:
                Expect(payload, 0, fds: 0);
                return Reply(request, (ulong)OfferedProtocolFeatures);
            case SET_PROTOCOL_FEATURES:
                Expect(payload, U64Payload.Length, fds: 0);
                SetProtocolFeatures((ProtocolFeatures)Payload.Read<U64Payload>(payload).Value);
                return false;
            case GET_QUEUE_NUM:
                RequireProtocol(ProtocolFeatures.MQ);
                Expect(payload, 0, fds: 0);
                return Reply(request, (ulong)_vrings.Length);
            case GET_MAX_MEM_SLOTS:
                RequireProtocol(ProtocolFeatures.CONFIGURE_MEM_SLOTS);
                Expect(payload, 0, fds: 0);
                return Reply(request, MaxMemorySlots);
            case SET_MEM_TABLE:
                SetMemTable(payload);
                return false;
            case ADD_MEM_REG:
                RequireProtocol(ProtocolFeatures.CONFIGURE_MEM_SLOTS);
                Expect(payload, SingleMemoryRegion.Length, fds: 1);
                AddMemoryRegion(Payload.Read<SingleMemoryRegion>(payload));
                return false;
            case REM_MEM_REG:
                RequireProtocol(ProtocolFeatures.CONFIGURE_MEM_SLOTS);
                // QEMU has been seen to pass the region's fd here too; accept and close it.
                ExpectSize(payload, SingleMemoryRegion.Length);
                if (_fds.Count > 1) throw Refuse(VhostUserError.WrongFdCount, $"expected at most 1 fd, got {_fds.Count}");
                RemoveMemoryRegion(Payload.Read<SingleMemoryRegion>(payload));
                return false;
            case SET_VRING_NUM:
                Expect(payload, VringState.Length, fds: 0);
                SetVringNum(Payload.Read<VringState>(payload));
                return false;
            case SET_VRING_ADDR:
                Expect(payload, VringAddress.Length, fds: 0);
                SetVringAddress(Payload.Read<VringAddress>(payload));
                return false;
            case SET_VRING_BASE:
                Expect(payload, VringState.Length, fds: 0);
                SetVringBase(Payload.Read<VringState>(payload));
                return false;
            case GET_VRING_BASE:
                Expect(payload, VringState.Length, fds: 0);
                return GetVringBase(Payload.Read<VringState>(payload));
            case SET_VRING_KICK:
            case SET_VRING_CALL:
            case SET_VRING_ERR:
                ExpectSize(payload, U64Payload.Length);
                SetVringFd(request, new VringFdPayload(Payload.Read<U64Payload>(payload).Value));
                return false;
            case SET_VRING_ENABLE:
                Expect(payload, VringState.Length, fds: 0);
                SetVringEnable(Payload.Read<VringState>(payload));
                return false;
            case GET_CONFIG:
                RequireProtocol(ProtocolFeatures.CONFIG);
                return GetConfig(payload);
            case SET_CONFIG:
                RequireProtocol(ProtocolFeatures.CONFIG);
                SetConfig(payload);
                return false;
            case SET_BACKEND_REQ_FD:
                RequireProtocol(ProtocolFeatures.BACKEND_REQ);
                Expect(payload, 0, fds: 1);
                _backendChannel?.Dispose();
                _backendChannel = new BackendChannel(new Interop.UnixSocket(_fds.Take(0)));
                return false;
            case GET_STATUS:
                RequireProtocol(ProtocolFeatures.STATUS);
                Expect(payload, 0, fds: 0);
                return Reply(request, _status);
            case SET_STATUS:
                RequireProtocol(ProtocolFeatures.STATUS);
                Expect(payload, U64Payload.Length, fds: 0);
                SetStatus(Payload.Read<U64Payload>(payload).Value);
                return false;
            case RESET_DEVICE:
                RequireProtocol(ProtocolFeatures.RESET_DEVICE);
                Expect(payload, 0, fds: 0);
                ResetDevice("RESET_DEVICE");
                return false;
            case SET_LOG_BASE or SET_LOG_FD or SEND_RARP or NET_SET_MTU or IOTLB_MSG or SET_VRING_ENDIAN
                or CREATE_CRYPTO_SESSION or CLOSE_CRYPTO_SESSION or POSTCOPY_ADVISE or POSTCOPY_LISTEN
                or POSTCOPY_END or GET_INFLIGHT_FD or SET_INFLIGHT_FD or GPU_SET_SOCKET or VRING_KICK
                or GET_SHARED_OBJECT or SET_DEVICE_STATE_FD or CHECK_DEVICE_STATE:
                // Known requests whose protocol features this back-end never offers.
                throw Refuse(VhostUserError.InvalidState, "its protocol feature was not offered");
            default:
                // docs/spec/vhost-user.md §2: never guess a reply to an unknown request; the stream's meaning is lost.
                throw new VhostUserException(VhostUserError.UnknownRequest, $"unknown request code {header.Request}", dropConnection: true);
        }
    }

    private static bool HasOwnReply(FrontendRequest request) => request is GET_FEATURES or GET_PROTOCOL_FEATURES
        or GET_QUEUE_NUM or GET_MAX_MEM_SLOTS or GET_VRING_BASE or GET_CONFIG or GET_STATUS or SET_LOG_BASE
        or GET_INFLIGHT_FD or IOTLB_MSG or POSTCOPY_ADVISE or CHECK_DEVICE_STATE or SET_DEVICE_STATE_FD;

    private bool Reply(FrontendRequest request, ulong value)
    {
        _connection!.SendReply((uint)request, value);
        return true;
    }

    private bool Negotiated(ProtocolFeatures feature) => (_ackedProtocolFeatures & feature) == feature;

    private void RequireProtocol(ProtocolFeatures feature)
    {
        if (!Negotiated(feature)) throw Refuse(VhostUserError.InvalidState, $"protocol feature {feature} was not negotiated");
    }

    private void Expect(ReadOnlySpan<byte> payload, int size, int fds)
    {
        ExpectSize(payload, size);
        if (_fds.Count != fds) throw Refuse(VhostUserError.WrongFdCount, $"expected {fds} fd(s), got {_fds.Count}");
    }

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
