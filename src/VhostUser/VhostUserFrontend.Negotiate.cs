using VhostDeviceCan.Interop;

namespace VhostDeviceCan.VhostUser;

// QEMU's connect sequence (vhost_user_backend_init + vhost_dev_init + vhost_virtqueue_init).
public sealed partial class VhostUserFrontend
{
    /// <summary>
    /// The protocol features QEMU knows (VHOST_USER_PROTOCOL_FEATURE_MASK, bits 0–16); QEMU acks
    /// the intersection of these and what the back-end offers.
    /// </summary>
    public const ProtocolFeatures QemuProtocolFeatures = (ProtocolFeatures)((1UL << 17) - 1);

    /// <summary>
    /// Runs the connect sequence of docs/spec/vhost-user.md §10.1 as QEMU does it:
    /// GET_FEATURES; if bit 30 is offered GET/SET_PROTOCOL_FEATURES (acking offered ∩ wanted);
    /// GET_QUEUE_NUM with MQ; GET_MAX_MEM_SLOTS with CONFIGURE_MEM_SLOTS; SET_BACKEND_REQ_FD with
    /// BACKEND_REQ (over a new socket pair whose front-end end is returned); SET_OWNER; GET_FEATURES;
    /// then per queue SET_VRING_CALL with a masked-notifier eventfd and SET_VRING_ERR with an
    /// error eventfd (both owned by the result). The result says what was negotiated; the virtio
    /// features to send later with SET_FEATURES are <see cref="NegotiationResult.FeaturesToSet"/>.
    /// </summary>
    /// <param name="wantedFeatures">Virtio feature bits the "guest" would accept.</param>
    /// <param name="wantedProtocol">Protocol features this front-end accepts (QEMU: <see cref="QemuProtocolFeatures"/>).</param>
    /// <param name="queueCount">Queues to set up notifiers for (QEMU's num_vqs).</param>
    public NegotiationResult NegotiateLikeQemu(ulong wantedFeatures, ProtocolFeatures wantedProtocol, int queueCount = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(queueCount);
        var result = new NegotiationResult { OfferedFeatures = GetFeatures() };
        try
        {
            if (VirtioFeatures.Has(result.OfferedFeatures, VirtioFeatures.VHOST_USER_F_PROTOCOL_FEATURES))
            {
                result.OfferedProtocolFeatures = GetProtocolFeatures();
                result.AckedProtocolFeatures = result.OfferedProtocolFeatures & wantedProtocol;
                SetProtocolFeatures(result.AckedProtocolFeatures);
                if ((result.AckedProtocolFeatures & ProtocolFeatures.MQ) != 0) result.QueueNum = GetQueueNum();
                if ((result.AckedProtocolFeatures & ProtocolFeatures.CONFIGURE_MEM_SLOTS) != 0)
                    result.MaxMemSlots = GetMaxMemSlots();
            }

            if ((result.AckedProtocolFeatures & ProtocolFeatures.BACKEND_REQ) != 0)
            {
                var (ours, theirs) = UnixSocket.Pair();
                result.BackendChannel = ours;
                using (theirs) SetBackendReqFd(theirs.Fd);
            }

            SetOwner();
            result.OfferedFeaturesAfterOwner = GetFeatures();

            for (int i = 0; i < queueCount; i++)
            {
                var call = new EventFd();
                result.CallNotifiers.Add(call);
                SetVringCall((uint)i, call.Fd);
                var err = new EventFd();
                result.ErrNotifiers.Add(err);
                SetVringErr((uint)i, err.Fd);
            }

            // The guest sees the back-end's bits minus bit 30, filtered by what the driver accepts.
            result.AckedFeatures = result.OfferedFeatures & wantedFeatures
                & ~VirtioFeatures.Bit(VirtioFeatures.VHOST_USER_F_PROTOCOL_FEATURES);
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }
}
