using System.Runtime.InteropServices;

namespace VhostDeviceCan.Interop;

/// <summary>SocketCAN (linux/can.h, linux/can/raw.h, linux/can/error.h) and the interface ioctls it needs.</summary>
public static partial class Libc
{
    public const int AF_CAN = 29;
    public const int PF_CAN = AF_CAN;
    public const int CAN_RAW = 1;
    public const int SOL_CAN_BASE = 100;
    public const int SOL_CAN_RAW = SOL_CAN_BASE + CAN_RAW;

    public const int CAN_RAW_FILTER = 1;
    public const int CAN_RAW_ERR_FILTER = 2;
    public const int CAN_RAW_LOOPBACK = 3;
    public const int CAN_RAW_RECV_OWN_MSGS = 4;
    public const int CAN_RAW_FD_FRAMES = 5;

    /// <summary>SOL_SOCKET option: each received message carries, as a control message of this
    /// type, the count (u32, cumulative, wrapping) of messages the kernel dropped for the socket
    /// because its receive queue was full. The kernel attaches it only once that count is not zero.</summary>
    public const int SO_RXQ_OVFL = 40;

    /// <summary>sizeof(struct can_frame): the MTU of a classic-only interface.</summary>
    public const int CAN_MTU = 16;
    /// <summary>sizeof(struct canfd_frame): the MTU of an interface that carries CAN FD.</summary>
    public const int CANFD_MTU = 72;
    public const int CAN_MAX_DLEN = 8;
    public const int CANFD_MAX_DLEN = 64;

    public const uint CAN_EFF_FLAG = 0x80000000;
    public const uint CAN_RTR_FLAG = 0x40000000;
    public const uint CAN_ERR_FLAG = 0x20000000;
    public const uint CAN_SFF_MASK = 0x000007FF;
    public const uint CAN_EFF_MASK = 0x1FFFFFFF;
    public const uint CAN_ERR_MASK = 0x1FFFFFFF;

    public const byte CANFD_BRS = 0x01;
    public const byte CANFD_ESI = 0x02;
    public const byte CANFD_FDF = 0x04;

    // Error classes: bits of can_id in an error frame, and of the CAN_RAW_ERR_FILTER mask.
    public const uint CAN_ERR_TX_TIMEOUT = 0x001;
    public const uint CAN_ERR_LOSTARB = 0x002;
    public const uint CAN_ERR_CRTL = 0x004;
    public const uint CAN_ERR_PROT = 0x008;
    public const uint CAN_ERR_TRX = 0x010;
    public const uint CAN_ERR_ACK = 0x020;
    public const uint CAN_ERR_BUSOFF = 0x040;
    public const uint CAN_ERR_BUSERROR = 0x080;
    public const uint CAN_ERR_RESTARTED = 0x100;
    public const uint CAN_ERR_CNT = 0x200;

    public const int IFNAMSIZ = 16;
    public const ulong SIOCGIFMTU = 0x8921;
    public const ulong SIOCGIFINDEX = 0x8933;
    public const ulong SIOCGIFFLAGS = 0x8913;
    public const short IFF_UP = 0x1;
    public const short IFF_RUNNING = 0x40;

    /// <summary>struct sockaddr_can (24 bytes): family, ifindex, then an 8-aligned 16-byte address union
    /// used only by the ISO-TP and J1939 protocols.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 24)]
    public struct SockAddrCan
    {
        public ushort Family;
        public int IfIndex;
    }

    /// <summary>struct can_frame (CAN_MTU = 16 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct CanFrame
    {
        public uint CanId;
        /// <summary>Payload length 0..8 (for RTR: the requested DLC).</summary>
        public byte Length;
        private readonly byte _pad;
        private readonly byte _reserved;
        /// <summary>Raw DLC 9..15 when CAN_CTRLMODE_CC_LEN8_DLC is on; otherwise 0.</summary>
        public byte Len8Dlc;
        public unsafe fixed byte Data[CAN_MAX_DLEN];
    }

    /// <summary>struct canfd_frame (CANFD_MTU = 72 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct CanFdFrame
    {
        public uint CanId;
        /// <summary>Payload length 0..64.</summary>
        public byte Length;
        /// <summary>CANFD_BRS, CANFD_ESI, CANFD_FDF.</summary>
        public byte Flags;
        private readonly byte _reserved0;
        private readonly byte _reserved1;
        public unsafe fixed byte Data[CANFD_MAX_DLEN];
    }

    /// <summary>struct can_filter: a frame passes when (received_id &amp; Mask) == (Id &amp; Mask).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct CanFilter
    {
        public uint Id;
        public uint Mask;
    }

    /// <summary>struct ifreq (40 bytes) as used by SIOCGIFINDEX and SIOCGIFMTU: a name and one int.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 40)]
    public struct IfReq
    {
        public unsafe fixed byte Name[IFNAMSIZ];
        /// <summary>ifr_ifindex or ifr_mtu, depending on the request.</summary>
        public int Value;
    }
}
