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
    internal const int SockAddrOffset = 32;
    internal const int SockAddrStorageSize = 128;
    internal const int CmsgOffset = SockAddrOffset + SockAddrStorageSize; // 160, 8-aligned as cmsghdr needs

    /// <summary>
    /// Room for four 24-byte messages: on send IP_TOS or IPV6_TCLASS, SO_PRIORITY or SO_MARK, SCM_TXTIME, then a run's
    /// UDP_SEGMENT; on receive priority, mark, TOS or traffic class, GRO.
    /// </summary>
    internal const int CmsgAreaSize = 96;

    internal const int MetaStride = 256;

    /// <summary>
    /// Payload areas are 8-aligned (the header's u64 fields) and packed: full-size datagrams in consecutive slots are
    /// contiguous, so a GSO run of them is one iovec, as a native sender lays it out (64 made 1200-byte slots 1216 apart).
    /// </summary>
    internal const int PayloadAlign = 8;

    /// <summary>Largest UDP payload over IPv4: 65535 - 20 (IP) - 8 (UDP).</summary>
    internal const int MaxUdpPayload = 65507;

    /// <summary>CMSG_SPACE(4): one u32 control message (SO_PRIORITY, SO_MARK).</summary>
    internal const int PriorityCmsgSpace = 24;

    /// <summary>CMSG_LEN(4): the exact cmsg_len the kernel demands for SO_PRIORITY.</summary>
    internal const int PriorityCmsgLen = 20;

    /// <summary>CMSG_SPACE(8) = CMSG_LEN(8) = 24: SCM_TXTIME's u64.</summary>
    internal const int TxTimeCmsgSpace = 24;

    /// <summary>CMSG_SPACE(2) = 24 on LP64: the 16-byte header, then the u16 gso_size padded to 8.</summary>
    internal const int SegmentCmsgSpace = 24;

    internal static int PayloadStride(int maxPayload) => (maxPayload + PayloadAlign - 1) & ~(PayloadAlign - 1);
}
