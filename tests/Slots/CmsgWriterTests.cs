using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Slots;

[Trait(Lab.Trait, Lab.HostOnly)]
public sealed unsafe class CmsgWriterTests
{
    [Fact]
    public void PriorityCmsgIsByteExact()
    {
        byte* buf = stackalloc byte[32];
        new Span<byte>(buf, 32).Fill(0xEE);
        int used = CmsgWriter.WritePriority(buf, 0x00010010);
        Assert.Equal(24, used);
        byte[] expected =
        [
            20, 0, 0, 0, 0, 0, 0, 0,  // cmsg_len = CMSG_LEN(4), size_t LE
            1, 0, 0, 0,               // cmsg_level = SOL_SOCKET
            12, 0, 0, 0,              // cmsg_type = SO_PRIORITY
            0x10, 0x00, 0x01, 0x00,   // u32 priority 0x00010010 (HTB class 1:10), LE
            0, 0, 0, 0,               // CMSG_SPACE padding
            0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, // untouched
        ];
        Assert.Equal(expected, new ReadOnlySpan<byte>(buf, 32).ToArray());
    }

    [Fact]
    public void SegmentCmsgIsByteExact()
    {
        byte* buf = stackalloc byte[32];
        new Span<byte>(buf, 32).Fill(0xEE);
        int used = CmsgWriter.WriteSegment(buf, 1200);
        Assert.Equal(24, used); // CMSG_SPACE(2) on LP64
        byte[] expected =
        [
            18, 0, 0, 0, 0, 0, 0, 0,  // cmsg_len = CMSG_LEN(2): the only length udp_cmsg_send takes
            17, 0, 0, 0,              // cmsg_level = SOL_UDP
            103, 0, 0, 0,             // cmsg_type = UDP_SEGMENT
            0xB0, 0x04,               // u16 gso_size 1200, LE
            0, 0, 0, 0, 0, 0,         // CMSG_SPACE padding
            0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, // untouched
        ];
        Assert.Equal(expected, new ReadOnlySpan<byte>(buf, 32).ToArray());
    }

    [Fact]
    public void ReadsTheGroSegmentSizeNextToThePriority()
    {
        byte* buf = stackalloc byte[48];
        int off = CmsgWriter.WritePriority(buf, 5);
        off += CmsgWriter.WriteU32(buf + off, Perf.Batch.Interop.SOL_UDP, Perf.Batch.Interop.UDP_GRO, 1400); // int gso_size
        Assert.Equal(ReceivedFields.Priority | ReceivedFields.Coalesced, CmsgWriter.ReadReceived(buf, (nuint)off, out uint p, out _, out _, out int segment));
        Assert.Equal(5u, p);
        Assert.Equal(1400, segment);
    }

    [Fact]
    public void ReadsPriorityMarkAndTrafficClassInOneWalk()
    {
        byte* buf = stackalloc byte[72];
        int off = CmsgWriter.WriteU32(buf, Perf.Batch.Interop.SOL_IP, Perf.Batch.Interop.IP_TOS, 0x10);
        off += CmsgWriter.WriteU32(buf + off, Perf.Batch.Interop.SOL_SOCKET, Perf.Batch.Interop.SO_MARK, 99);
        off += CmsgWriter.WritePriority(buf + off, 5);
        Assert.Equal(ReceivedFields.Priority | ReceivedFields.Mark | ReceivedFields.TrafficClass, CmsgWriter.ReadReceived(buf, (nuint)off, out uint p, out uint mark, out byte tos));
        Assert.Equal((5u, 99u, (byte)0x10), (p, mark, tos));
        Assert.Equal(ReceivedFields.Mark | ReceivedFields.TrafficClass, CmsgWriter.ReadReceived(buf, 48, out _, out _, out _)); // priority cmsg cut off
    }

    [Fact]
    public void MalformedControlBufferIsNotRead()
    {
        byte* buf = stackalloc byte[24];
        CmsgWriter.WritePriority(buf, 3);
        ((Perf.Batch.Interop.CMsgHdr*)buf)->Len = 1000; // claims more than the buffer holds
        Assert.Equal(ReceivedFields.None, CmsgWriter.ReadReceived(buf, 24, out _, out _, out _));
        ((Perf.Batch.Interop.CMsgHdr*)buf)->Len = 0;
        Assert.Equal(ReceivedFields.None, CmsgWriter.ReadReceived(buf, 24, out _, out _, out _));
    }
}
