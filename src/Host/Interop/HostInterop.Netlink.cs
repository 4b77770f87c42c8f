using System.Runtime.InteropServices;

using Perf.Batch;

namespace Perf.Host;

// rtnetlink, from the Linux UAPI (linux/netlink.h, linux/rtnetlink.h, linux/pkt_sched.h, linux/pkt_cls.h).
internal static partial class HostInterop
{
    internal const int AF_NETLINK = 16;
    internal const int SOCK_RAW = 3;
    internal const int NETLINK_ROUTE = 0;

    internal static class Netlink
    {
        internal const ushort NLMSG_ERROR = 2;
        internal const ushort NLMSG_DONE = 3;

        internal const ushort NLM_F_REQUEST = 0x1;
        internal const ushort NLM_F_ACK = 0x4;
        internal const ushort NLM_F_EXCL = 0x200;
        internal const ushort NLM_F_CREATE = 0x400;
        internal const ushort NLM_F_DUMP = 0x300;

        internal const ushort RTM_NEWROUTE = 24;
        internal const ushort RTM_GETROUTE = 26;
        internal const ushort RTM_NEWQDISC = 36;
        internal const ushort RTM_DELQDISC = 37;
        internal const ushort RTM_GETQDISC = 38;
        internal const ushort RTM_NEWTCLASS = 40;
        internal const ushort RTM_GETTCLASS = 42;
        internal const ushort RTM_NEWTFILTER = 44;
        internal const ushort RTM_DELTFILTER = 45;
        internal const ushort RTM_GETTFILTER = 46;

        internal const ushort RTA_DST = 1;
        internal const ushort RTA_OIF = 4;

        internal const ushort TCA_KIND = 1;
        internal const ushort TCA_OPTIONS = 2;
        internal const ushort TCA_XSTATS = 4;
        internal const ushort TCA_STATS2 = 7;

        // Inside TCA_STATS2 (linux/gen_stats.h).
        internal const ushort TCA_STATS_BASIC = 1;    // struct gnet_stats_basic: u64 bytes, u32 packets (16 with padding)
        internal const ushort TCA_STATS_RATE_EST = 2; // struct gnet_stats_rate_est: u32 bps, u32 pps
        internal const ushort TCA_STATS_QUEUE = 3;    // struct gnet_stats_queue: u32 qlen, backlog, drops, requeues, overlimits
        internal const ushort TCA_STATS_APP = 4;      // the qdisc's own xstats
        internal const ushort TCA_STATS_RATE_EST64 = 5; // struct gnet_stats_rate_est64: u64 bps, u64 pps
        internal const ushort TCA_STATS_PKT64 = 8;    // u64 packets, where the u32 in BASIC wrapped (5.12+)

        // cls_bpf options (enum in linux/pkt_cls.h).
        internal const ushort TCA_BPF_FD = 6;
        internal const ushort TCA_BPF_NAME = 7;
        internal const ushort TCA_BPF_FLAGS = 8;
        internal const ushort TCA_BPF_ID = 11;
        internal const uint TCA_BPF_FLAG_ACT_DIRECT = 1;

        internal const ushort NLA_F_NESTED = 0x8000;

        // clsact: handle ffff:, its hooks ffff:fff2 (ingress) and ffff:fff3 (egress).
        internal const uint TC_H_CLSACT = 0xFFFFFFF1;
        internal const uint ClsactHandle = 0xFFFF0000;
        internal const uint ClsactIngress = 0xFFFFFFF2;
        internal const uint ClsactEgress = 0xFFFFFFF3;

        /// <summary>htons(ETH_P_ALL): a filter for every protocol.</summary>
        internal const uint EthPAllNetworkOrder = 0x0300;

        internal const int NlMsgHdrSize = 16;
        internal const int TcMsgSize = 20;
        internal const int RtMsgSize = 12;

        internal static int Align(int length) => (length + 3) & ~3;
    }

    /// <summary>struct nlmsghdr: 16 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct NlMsgHdr
    {
        public uint Len;
        public ushort Type;
        public ushort Flags;
        public uint Seq;
        public uint Pid;
    }

    /// <summary>struct tcmsg: 20 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct TcMsg
    {
        public byte Family;
        public byte Pad1;
        public ushort Pad2;
        public int Ifindex;
        public uint Handle;
        public uint Parent;
        public uint Info;
    }

    /// <summary>struct rtmsg: 12 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct RtMsg
    {
        public byte Family;
        public byte DstLen;
        public byte SrcLen;
        public byte Tos;
        public byte Table;
        public byte Protocol;
        public byte Scope;
        public byte Type;
        public uint Flags;
    }

    /// <summary>struct rtattr / nlattr: 4 bytes, then the payload padded to 4.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct RtAttr
    {
        public ushort Len;
        public ushort Type;
    }

    internal static partial class Sys
    {
        [LibraryImport(Interop.Libraries.Libc, EntryPoint = "send", SetLastError = true)]
        internal static unsafe partial nint Send(SafeFdHandle fd, void* buf, nuint len, int flags);

        [LibraryImport(Interop.Libraries.Libc, EntryPoint = "recv", SetLastError = true)]
        internal static unsafe partial nint Recv(SafeFdHandle fd, void* buf, nuint len, int flags);

        [LibraryImport(Interop.Libraries.Libc, EntryPoint = "if_nametoindex", SetLastError = true)]
        internal static unsafe partial uint IfNameToIndex(byte* name);

        [LibraryImport(Interop.Libraries.Libc, EntryPoint = "if_indextoname", SetLastError = true)]
        internal static unsafe partial byte* IfIndexToName(uint index, byte* name);
    }
}
