namespace Perf.Batch;

/// <summary>
/// Byte layout of one slot's metadata block, fixed once for every ring:
/// iovec[0] (16) | iovec[1] (16) | sockaddr_storage (128) | cmsg area (96) = 256.
/// iovec[0] is the slot's payload, or a header when iovec[1] points at a payload elsewhere (a forwarder sending from its
/// receive buffers); iovec[1] has length 0 otherwise, so a datagram's length is always the sum of the two.
/// The mmsghdr of each slot lives in a separate contiguous array because sendmmsg/recvmmsg take one.
/// </summary>
internal static class SlotLayout
{
    internal const int IoVecOffset = 0;
    internal const int SecondIoVecOffset = 16;
    internal const int SockAddrOffset = 32;
    internal const int SockAddrStorageSize = 128;
    internal const int CmsgOffset = SockAddrOffset + SockAddrStorageSize; // 160, 8-aligned as cmsghdr needs

    /// <summary>Room for four CMSG_SPACE(4) messages: SO_PRIORITY now; SO_MARK, IP_TOS/IPV6_TCLASS, UDP_SEGMENT later.</summary>
    internal const int CmsgAreaSize = 96;

    internal const int MetaStride = 256;

    /// <summary>Payload areas start on a cache line.</summary>
    internal const int PayloadAlign = 64;

    /// <summary>Largest UDP payload over IPv4: 65535 - 20 (IP) - 8 (UDP).</summary>
    internal const int MaxUdpPayload = 65507;

    /// <summary>CMSG_SPACE(4): one u32 control message (SO_PRIORITY, SO_MARK).</summary>
    internal const int PriorityCmsgSpace = 24;

    /// <summary>CMSG_LEN(4): the exact cmsg_len the kernel demands for SO_PRIORITY.</summary>
    internal const int PriorityCmsgLen = 20;

    /// <summary>Where a run's UDP_SEGMENT cmsg goes in its first slot's cmsg area: right after the priority cmsg.</summary>
    internal const int SegmentCmsgOffset = PriorityCmsgSpace;

    /// <summary>CMSG_SPACE(2) = 24 on LP64: the 16-byte header, then the u16 gso_size padded to 8.</summary>
    internal const int SegmentCmsgSpace = 24;

    internal static int PayloadStride(int maxPayload) => (maxPayload + PayloadAlign - 1) & ~(PayloadAlign - 1);
}
