namespace VhostDeviceCan.VhostUser;

/// <summary>Front-end → back-end request codes (vhost-user.rst "Front-end message types").
/// Names are the spec's, without the VHOST_USER_ prefix, so code greps against the spec.</summary>
public enum FrontendRequest : uint
{
    NONE = 0,
    GET_FEATURES = 1,
    SET_FEATURES = 2,
    SET_OWNER = 3,
    RESET_OWNER = 4,
    SET_MEM_TABLE = 5,
    SET_LOG_BASE = 6,
    SET_LOG_FD = 7,
    SET_VRING_NUM = 8,
    SET_VRING_ADDR = 9,
    SET_VRING_BASE = 10,
    GET_VRING_BASE = 11,
    SET_VRING_KICK = 12,
    SET_VRING_CALL = 13,
    SET_VRING_ERR = 14,
    GET_PROTOCOL_FEATURES = 15,
    SET_PROTOCOL_FEATURES = 16,
    GET_QUEUE_NUM = 17,
    SET_VRING_ENABLE = 18,
    SEND_RARP = 19,
    NET_SET_MTU = 20,
    SET_BACKEND_REQ_FD = 21,
    IOTLB_MSG = 22,
    SET_VRING_ENDIAN = 23,
    GET_CONFIG = 24,
    SET_CONFIG = 25,
    CREATE_CRYPTO_SESSION = 26,
    CLOSE_CRYPTO_SESSION = 27,
    POSTCOPY_ADVISE = 28,
    POSTCOPY_LISTEN = 29,
    POSTCOPY_END = 30,
    GET_INFLIGHT_FD = 31,
    SET_INFLIGHT_FD = 32,
    GPU_SET_SOCKET = 33,
    RESET_DEVICE = 34,
    VRING_KICK = 35,
    GET_MAX_MEM_SLOTS = 36,
    ADD_MEM_REG = 37,
    REM_MEM_REG = 38,
    SET_STATUS = 39,
    GET_STATUS = 40,
    GET_SHARED_OBJECT = 41,
    SET_DEVICE_STATE_FD = 42,
    CHECK_DEVICE_STATE = 43,
}

/// <summary>Back-end → front-end request codes, sent on the SET_BACKEND_REQ_FD channel.</summary>
public enum BackendRequest : uint
{
    NONE = 0,
    IOTLB_MSG = 1,
    CONFIG_CHANGE_MSG = 2,
    VRING_HOST_NOTIFIER_MSG = 3,
    VRING_CALL = 4,
    VRING_ERR = 5,
}
