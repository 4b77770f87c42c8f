using System.Net;
using Perf.Batch;

namespace Perf.Tests.Slots;

using Sys = Perf.Batch.Interop;
using Perf.Tests.Infrastructure;

[Trait(Lab.Trait, Lab.HostOnly)]
public sealed unsafe class SlotRingTests
{
    [Fact]
    public void PointersAreCarvedOnceIntoOneSlab()
    {
        using var ring = new SlotRing(64, 1000, priorityCmsg: true);
        byte* lo = (byte*)ring.Messages;
        byte* hi = lo + ring.SlabBytes;
        Assert.Equal(0, (long)lo % 4096);
        for (int i = 0; i < ring.Capacity; i++)
        {
            ref Sys.MsgHdr h = ref ring.Messages[i].Hdr;
            Assert.True((byte*)h.Iov >= lo && (byte*)h.Iov < hi);
            Assert.Equal(1u, (uint)h.IovLen);
            Assert.True(h.Iov->Base == ring.PayloadPtr(i));
            Assert.Equal(0, (long)ring.PayloadPtr(i) % SlotLayout.PayloadAlign);
            Assert.True(ring.PayloadPtr(i) + ring.MaxPayload <= hi);
            Assert.Equal(24u, (uint)h.ControlLen);
            Assert.Equal(0, (long)h.Control % 8);
            Assert.True(h.Name == null); // set on first unconnected enqueue
        }

        Assert.Equal(1000, (int)(ring.PayloadPtr(1) - ring.PayloadPtr(0))); // packed (8-byte steps): full-size runs are one iovec
    }

    [Fact]
    public void ReuseRewritesOnlyTheChangingFields()
    {
        using var ring = new SlotRing(64, 100, priorityCmsg: true);
        var dest = new DatagramAddress(IPAddress.Parse("127.0.0.2"), 4242);
        ring.SetLength(5, 77);
        ring.SetPriority(5, 0x10020);
        ring.SetDestination(5, dest);
        Assert.Equal(77, ring.GetLength(5));
        Assert.Equal(0x10020u, ring.GetPriority(5));
        Assert.Equal(dest, ring.GetDestination(5));
        ref Sys.MsgHdr h = ref ring.Messages[5].Hdr;
        var cmsg = (Sys.CMsgHdr*)h.Control;
        Assert.Equal(20u, (uint)cmsg->Len);
        Assert.Equal(Sys.SOL_SOCKET, cmsg->Level);
        Assert.Equal(Sys.SO_PRIORITY, cmsg->Type);
        Assert.Equal(16u, h.NameLen);

        ring.SetPriority(5, 3);
        Assert.Equal(20u, (uint)cmsg->Len); // header untouched by reuse
        Assert.Equal(3u, ring.GetPriority(5));
    }

    [Fact]
    public void WithoutPriorityCmsgNoControlIsAttached()
    {
        using var ring = new SlotRing(64, 64, priorityCmsg: false);
        Assert.Equal(0u, (uint)ring.Messages[0].Hdr.ControlLen);
        Assert.True(ring.Messages[0].Hdr.Control == null);
    }

    [Fact]
    public void DisposeIsIdempotent()
    {
        var ring = new SlotRing(64, 64, priorityCmsg: true);
        ring.Dispose();
        ring.Dispose();
        Assert.True(ring.Messages == null);
    }
}
