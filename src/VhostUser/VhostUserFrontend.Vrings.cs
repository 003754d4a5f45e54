namespace VhostDeviceCan.VhostUser;

// Ring set-up and control (vhost-user.rst "Starting and stopping rings").
public sealed partial class VhostUserFrontend
{
    public void SetVringNum(uint index, uint num) => RequestState(FrontendRequest.SET_VRING_NUM, index, num, Ack.Optional);

    public void SetVringBase(uint index, uint @base) => RequestState(FrontendRequest.SET_VRING_BASE, index, @base, Ack.Optional);

    /// <summary>SET_VRING_ADDR. QEMU waits for it only when the LOG flag is set (vhost_user_set_vring_addr).</summary>
    public void SetVringAddr(VringAddress address)
    {
        Span<byte> payload = stackalloc byte[VringAddress.Length];
        Payload.Write(payload, address);
        Request(FrontendRequest.SET_VRING_ADDR, payload, default,
            (address.Flags & VringAddress.LogFlag) != 0 ? Ack.Synchronous : Ack.Optional);
    }

    /// <summary>
    /// SET_VRING_ENABLE. Recent QEMU waits for every one: NEED_REPLY with REPLY_ACK, otherwise a
    /// GET_FEATURES round trip, so the ring state is known to have changed when this returns.
    /// </summary>
    public void SetVringEnable(uint index, bool enable) =>
        RequestState(FrontendRequest.SET_VRING_ENABLE, index, enable ? 1u : 0u, Ack.Synchronous);

    /// <summary>
    /// GET_VRING_BASE: stops the ring and returns its next avail index. As in QEMU, only the
    /// request code and size of the reply are checked, not the ring index it names.
    /// </summary>
    public uint GetVringBase(uint index)
    {
        Span<byte> payload = stackalloc byte[VringState.Length];
        Payload.Write(payload, new VringState(index, 0));
        Send(FrontendRequest.GET_VRING_BASE, 0, payload);
        return Payload.Read<VringState>(ReceiveReply(FrontendRequest.GET_VRING_BASE, VringState.Length)).Num;
    }

    /// <summary>SET_VRING_KICK; null sends the no-fd bit (0x100): the back-end must then poll the ring.</summary>
    public void SetVringKick(uint index, int? fd) => RequestVringFd(FrontendRequest.SET_VRING_KICK, index, fd);

    /// <summary>SET_VRING_CALL; null sends the no-fd bit: the back-end must not signal.</summary>
    public void SetVringCall(uint index, int? fd) => RequestVringFd(FrontendRequest.SET_VRING_CALL, index, fd);

    public void SetVringErr(uint index, int? fd) => RequestVringFd(FrontendRequest.SET_VRING_ERR, index, fd);

    private void RequestVringFd(FrontendRequest request, uint index, int? fd)
    {
        // The index has 8 bits on the wire; silently masking a larger one would address another ring.
        ArgumentOutOfRangeException.ThrowIfGreaterThan(index, (uint)VringFdPayload.IndexMask);
        Span<byte> payload = stackalloc byte[U64Payload.Length];
        Payload.Write(payload, new U64Payload(VringFdPayload.Encode(index, fd.HasValue)));
        Span<int> fds = stackalloc int[1];
        fds[0] = fd.GetValueOrDefault();
        Request(request, payload, fd.HasValue ? fds : default, Ack.Optional);
    }

    private void RequestState(FrontendRequest request, uint index, uint num, Ack ack)
    {
        Span<byte> payload = stackalloc byte[VringState.Length];
        Payload.Write(payload, new VringState(index, num));
        Request(request, payload, default, ack);
    }
}
