using System.Buffers.Binary;
using System.Net;
using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Slots;

using Sys = Perf.Batch.Interop;

/// <summary>
/// What the kernel reads from a slot, read back the way the kernel reads it: the control buffer walked cmsg by cmsg
/// (CMSG_FIRSTHDR/CMSG_NXTHDR: 8-byte aligned steps), each value at CMSG_DATA, the iovec lengths, the sockaddr bytes.
/// The managed shadows the planner reads are checked elsewhere; here only the native memory counts.
/// </summary>
[Trait(Lab.Trait, Lab.HostOnly)]
public sealed unsafe class SlotRingNativeTests
{
    [Theory]
    [InlineData(Sys.AF_INET)]
    [InlineData(Sys.AF_INET6)]
    public void EverySetterWritesTheBytesTheKernelReads(int family)
    {
        using var ring = new SlotRing(16, 1500, Sys.SO_PRIORITY, trafficClassFamily: family, txTime: true);
        ring.SetLength(3, 1234);
        ring.SetPriority(3, 0x10020);
        ring.SetTrafficClass(3, 0xB9); // DSCP 46 (EF), ECN ECT(1)
        ring.SetTxTime(3, 0x0123_4567_89AB_CDEF);

        ref Sys.MsgHdr h = ref ring.Messages[3].Hdr;
        Assert.Equal(1234u, (uint)h.Iov[0].Length);
        Assert.Equal(1u, (uint)h.IovLen);
        List<(int Level, int Type, int Len, ulong Value)> cmsgs = Walk(h);
        bool v6 = family == Sys.AF_INET6;
        Assert.Equal(
            [
                (v6 ? Sys.SOL_IPV6 : Sys.SOL_IP, v6 ? Sys.IPV6_TCLASS : Sys.IP_TOS, 20, 0xB9ul), // first: IP_TOS also sets a priority, which the next one overrides
                (Sys.SOL_SOCKET, Sys.SO_PRIORITY, 20, 0x10020ul),
                (Sys.SOL_SOCKET, Sys.SO_TXTIME, 24, 0x0123_4567_89AB_CDEFul),
            ],
            cmsgs);

        // Another slot keeps its own values: no setter writes outside its slot.
        Assert.Equal([0ul, 0ul, 0ul], Walk(ring.Messages[4].Hdr).Select(c => c.Value));
        Assert.Equal(0u, (uint)ring.Messages[4].Hdr.Iov[0].Length);
    }

    [Fact]
    public void TheMarkStrategyCarriesSoMarkAndNothingElse()
    {
        using var ring = new SlotRing(4, 64, Sys.SO_MARK);
        ring.SetPriority(1, 7);
        Assert.Equal([(Sys.SOL_SOCKET, Sys.SO_MARK, 20, 7ul)], Walk(ring.Messages[1].Hdr));
    }

    [Fact]
    public void ADestinationIsASockaddrInNetworkOrder()
    {
        using var ring = new SlotRing(4, 64, Sys.SO_PRIORITY);
        ring.SetDestination(0, new DatagramAddress(IPAddress.Parse("10.1.2.3"), 4789));
        ref Sys.MsgHdr h = ref ring.Messages[0].Hdr;
        var sin = new ReadOnlySpan<byte>(h.Name, (int)h.NameLen);
        Assert.Equal(16, sin.Length);
        Assert.Equal(Sys.AF_INET, BitConverter.ToUInt16(sin)); // sa_family: host order
        Assert.Equal(4789, BinaryPrimitives.ReadUInt16BigEndian(sin[2..]));
        Assert.Equal([10, 1, 2, 3], sin[4..8].ToArray());

        ring.SetDestination(1, new DatagramAddress(IPAddress.Parse("fd00::7"), 9));
        ref Sys.MsgHdr h6 = ref ring.Messages[1].Hdr;
        var sin6 = new ReadOnlySpan<byte>(h6.Name, (int)h6.NameLen);
        Assert.Equal(28, sin6.Length);
        Assert.Equal(Sys.AF_INET6, BitConverter.ToUInt16(sin6));
        Assert.Equal(9, BinaryPrimitives.ReadUInt16BigEndian(sin6[2..]));
        Assert.Equal(IPAddress.Parse("fd00::7").GetAddressBytes(), sin6[8..24].ToArray());
    }

    [Fact]
    public void AReferenceIsTwoIovecsUntilRestored()
    {
        using var ring = new SlotRing(4, 64, Sys.SO_PRIORITY);
        byte* header = stackalloc byte[8];
        byte* payload = stackalloc byte[100];
        ring.SetReference(2, payload, 100, header, 8);
        ref Sys.MsgHdr h = ref ring.Messages[2].Hdr;
        Assert.Equal(2u, (uint)h.IovLen);
        Assert.True(h.Iov[0].Base == header && h.Iov[1].Base == payload);
        Assert.Equal((8u, 100u), ((uint)h.Iov[0].Length, (uint)h.Iov[1].Length));
        Assert.Equal(108, ring.GetLength(2));

        ring.Restore(2);
        Assert.Equal(1u, (uint)h.IovLen);
        Assert.True(h.Iov[0].Base == ring.PayloadPtr(2));
    }

    // CMSG_FIRSTHDR, CMSG_NXTHDR: each header at an 8-byte aligned offset, its data 16 bytes in; stops where the next
    // header would not fit in msg_controllen, as the kernel does.
    private static List<(int Level, int Type, int Len, ulong Value)> Walk(in Sys.MsgHdr h)
    {
        var found = new List<(int, int, int, ulong)>();
        byte* p = (byte*)h.Control;
        byte* end = p + h.ControlLen;
        while (p != null && p + sizeof(Sys.CMsgHdr) <= end)
        {
            var c = (Sys.CMsgHdr*)p;
            int len = (int)c->Len;
            Assert.True(len >= sizeof(Sys.CMsgHdr) && p + len <= end, "cmsg_len " + len + " overruns the control buffer");
            byte* data = p + sizeof(Sys.CMsgHdr);
            ulong value = len - sizeof(Sys.CMsgHdr) == 8 ? *(ulong*)data : *(uint*)data;
            found.Add((c->Level, c->Type, len, value));
            p += (len + 7) & ~7;
        }

        return found;
    }
}
