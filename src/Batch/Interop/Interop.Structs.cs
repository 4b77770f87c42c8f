using System.Runtime.InteropServices;

namespace Perf.Batch;

// Struct mirrors of the LP64 Linux ABI (x86-64 and arm64 agree on every one of these).
// Sizes and offsets are pinned by tests/Interop/LayoutTests.cs.
internal static partial class Interop
{
    /// <summary>struct iovec: 16 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct IoVec
    {
        public byte* Base;
        public nuint Length;
    }

    /// <summary>struct msghdr: 56 bytes; socklen_t and int fields are followed by 4 bytes of padding.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct MsgHdr
    {
        public void* Name;
        public uint NameLen;
        private readonly uint _pad0;
        public IoVec* Iov;
        public nuint IovLen;
        public void* Control;
        public nuint ControlLen;
        public int Flags;
        private readonly uint _pad1;
    }

    /// <summary>struct mmsghdr: 64 bytes; msg_len is written by the kernel.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct MMsgHdr
    {
        public MsgHdr Hdr;
        public uint Len;
        private readonly uint _pad;
    }

    /// <summary>struct cmsghdr: 16 bytes; the payload starts at CMSG_DATA = +16.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct CMsgHdr
    {
        public nuint Len;
        public int Level;
        public int Type;
    }

    /// <summary>struct sockaddr_in: 16 bytes; port and address are in network byte order.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct SockAddrIn
    {
        public ushort Family;
        public ushort Port;
        public uint Addr;
        public ulong Zero;
    }

    /// <summary>struct sockaddr_in6: 28 bytes; port and flowinfo in network byte order.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct SockAddrIn6
    {
        public ushort Family;
        public ushort Port;
        public uint FlowInfo;
        public fixed byte Addr[16];
        public uint ScopeId;
    }

    /// <summary>struct pollfd: 8 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct PollFd
    {
        public int Fd;
        public short Events;
        public short REvents;
    }

    /// <summary>struct sock_txtime (linux/net_tstamp.h): 8 bytes, the value of SO_TXTIME.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct SockTxTime
    {
        public int ClockId;
        public uint Flags;
    }

    /// <summary>struct timespec: 16 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct TimeSpec
    {
        public long Sec;
        public long NSec;
    }

    /// <summary>struct sock_extended_err (linux/errqueue.h): 16 bytes, the payload of an IP_RECVERR / IPV6_RECVERR cmsg.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct SockExtendedErr
    {
        public uint Errno;
        public byte Origin;
        public byte Type;
        public byte Code;
        public byte Pad;
        public uint Info;  // timestamping: SCM_TSTAMP_SND, SCM_TSTAMP_SCHED
        public uint Data;  // timestamping with OPT_ID: the message's key
    }
}
