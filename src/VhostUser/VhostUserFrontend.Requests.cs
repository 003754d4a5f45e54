namespace VhostDeviceCan.VhostUser;

// Feature negotiation, ownership, status and config (vhost-user.rst "Front-end message types").
public sealed partial class VhostUserFrontend
{
    /// <summary>VHOST_F_LOG_ALL: with it SET_FEATURES must be synchronous (QEMU vhost_user_set_features).</summary>
    public const int VHOST_F_LOG_ALL = 26;

    public ulong GetFeatures()
    {
        Send(FrontendRequest.GET_FEATURES, 0, default);
        return ReceiveU64(FrontendRequest.GET_FEATURES);
    }

    /// <summary>SET_FEATURES. QEMU waits for it only while logging dirty pages (LOG_ALL).</summary>
    public void SetFeatures(ulong features) =>
        RequestU64(FrontendRequest.SET_FEATURES, features,
            VirtioFeatures.Has(features, VHOST_F_LOG_ALL) ? Ack.Synchronous : Ack.Optional);

    public ProtocolFeatures GetProtocolFeatures()
    {
        Send(FrontendRequest.GET_PROTOCOL_FEATURES, 0, default);
        return (ProtocolFeatures)ReceiveU64(FrontendRequest.GET_PROTOCOL_FEATURES);
    }

    /// <summary>
    /// SET_PROTOCOL_FEATURES, and remember what was acked: REPLY_ACK applies from the next request.
    /// Under <see cref="AckEverything"/> this request itself asks for an ack only when the set it
    /// carries contains REPLY_ACK (the back-end knows of REPLY_ACK only once it has read this).
    /// </summary>
    public void SetProtocolFeatures(ProtocolFeatures features)
    {
        bool needReply = AckEverything && (features & ProtocolFeatures.REPLY_ACK) != 0;
        Span<byte> payload = stackalloc byte[U64Payload.Length];
        Payload.Write(payload, new U64Payload((ulong)features));
        Send(FrontendRequest.SET_PROTOCOL_FEATURES, needReply ? MessageHeader.NeedReplyFlag : 0, payload);
        AckedProtocolFeatures = features;
        if (needReply) ReceiveAck(FrontendRequest.SET_PROTOCOL_FEATURES);
    }

    public void SetOwner() => Request(FrontendRequest.SET_OWNER, default, default, Ack.Optional);

    /// <summary>Deprecated by the spec; QEMU sends it instead of RESET_DEVICE when that is not negotiated.</summary>
    public void ResetOwner() => Request(FrontendRequest.RESET_OWNER, default, default, Ack.Optional);

    /// <summary>RESET_DEVICE (protocol feature RESET_DEVICE). QEMU does not wait for it.</summary>
    public void ResetDevice() => Request(FrontendRequest.RESET_DEVICE, default, default, Ack.Optional);

    public ulong GetQueueNum()
    {
        Send(FrontendRequest.GET_QUEUE_NUM, 0, default);
        return ReceiveU64(FrontendRequest.GET_QUEUE_NUM);
    }

    public ulong GetMaxMemSlots()
    {
        Send(FrontendRequest.GET_MAX_MEM_SLOTS, 0, default);
        return ReceiveU64(FrontendRequest.GET_MAX_MEM_SLOTS);
    }

    /// <summary>GET_STATUS (protocol feature STATUS): the virtio status byte in a u64.</summary>
    public byte GetStatus()
    {
        Send(FrontendRequest.GET_STATUS, 0, default);
        return (byte)ReceiveU64(FrontendRequest.GET_STATUS);
    }

    /// <summary>SET_STATUS. QEMU sends it without waiting (vhost_user_set_status).</summary>
    public void SetStatus(byte status) => RequestU64(FrontendRequest.SET_STATUS, status, Ack.Optional);

    /// <summary>QEMU's vhost_user_add_status: GET_STATUS, then SET_STATUS only if a bit is missing.</summary>
    public void AddStatus(byte bits)
    {
        byte status = GetStatus();
        if ((status & bits) != bits) SetStatus((byte)(status | bits));
    }

    /// <summary>
    /// SET_BACKEND_REQ_FD: hands the back-end its end of the back-end request channel. The caller
    /// keeps (and later closes) its copy of <paramref name="fd"/>, as QEMU closes sv[1] after sending.
    /// </summary>
    public void SetBackendReqFd(int fd) =>
        Request(FrontendRequest.SET_BACKEND_REQ_FD, default, [fd], Ack.IfNegotiated);

    /// <summary>
    /// GET_CONFIG. The request already carries <paramref name="size"/> bytes (zeros, as QEMU sends),
    /// and the reply must be exactly 12 + size bytes (vhost_user_get_config).
    /// </summary>
    public byte[] GetConfig(uint offset, uint size, uint flags = 0)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(size, ConfigHeader.MaxConfigSize);
        int length = ConfigHeader.Length + (int)size;
        Span<byte> payload = stackalloc byte[length];
        payload.Clear();
        Payload.Write(payload, new ConfigHeader(offset, size, flags));
        Send(FrontendRequest.GET_CONFIG, 0, payload);
        return ReceiveReply(FrontendRequest.GET_CONFIG, length)[ConfigHeader.Length..].ToArray();
    }

    /// <summary>SET_CONFIG; acked when REPLY_ACK is negotiated. Flags: 0 driver write, 1 migration.</summary>
    public void SetConfig(uint offset, ReadOnlySpan<byte> data, uint flags = 0)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)data.Length, ConfigHeader.MaxConfigSize, nameof(data));
        Span<byte> payload = stackalloc byte[ConfigHeader.Length + data.Length];
        Payload.Write(payload, new ConfigHeader(offset, (uint)data.Length, flags));
        data.CopyTo(payload[ConfigHeader.Length..]);
        Request(FrontendRequest.SET_CONFIG, payload, default, Ack.IfNegotiated);
    }

    private void RequestU64(FrontendRequest request, ulong value, Ack ack)
    {
        Span<byte> payload = stackalloc byte[U64Payload.Length];
        Payload.Write(payload, new U64Payload(value));
        Request(request, payload, default, ack);
    }
}
