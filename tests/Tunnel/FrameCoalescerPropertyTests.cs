using System.Buffers.Binary;
using Perf.Tests.Infrastructure;
using Perf.Tunnel;

namespace Perf.Tests.Tunnel;

/// <summary>
/// The merge against the split: the segments of a random TCP or UDP super-packet (IPv4 or IPv6, a VLAN tag or none,
/// options, ACK with PSH or not), as <see cref="SuperFrame"/> cuts them, must merge back into that super-packet byte for byte
/// (its checksum field holding the pseudo-header's sum, as the kernel expects behind NEEDS_CSUM). Anything that breaks a
/// flow's continuity or a checksum must keep a segment out.
/// </summary>
[Trait(Lab.Trait, Lab.HostOnly)]
public sealed class FrameCoalescerPropertyTests
{
    private const TunnelOffloads All = TunnelOffloads.Checksum | TunnelOffloads.Tso4 | TunnelOffloads.Tso6 | TunnelOffloads.Uso4 | TunnelOffloads.Uso6;

    /// <summary>What the device did not grant does not merge: UDP without USO, IPv6 TCP with TSO4 only.</summary>
    [Fact]
    public void OnlyWhatTheDeviceTakesSuperPacketsOfMerges()
    {
        var random = new Random(9);
        foreach ((bool udp, bool v6, TunnelOffloads granted) in (ReadOnlySpan<(bool, bool, TunnelOffloads)>)[
            (true, false, TunnelOffloads.Checksum | TunnelOffloads.Tso4 | TunnelOffloads.Tso6),
            (false, true, TunnelOffloads.Checksum | TunnelOffloads.Tso4),
            (true, true, TunnelOffloads.Checksum | TunnelOffloads.Uso4)])
        {
            SuperFrameModel.Shape shape = MergeableShape(random) with { Udp = udp, V6 = v6, TcpFlags = udp ? (byte)0 : (byte)0x10, TcpOptions = 0, Payload = 3000, Mss = 1000 };
            List<byte[]> segments = Split(SuperFrameModel.Build(shape, random), shape.Ethernet);
            var coalescer = new FrameCoalescer(shape.Ethernet, granted);
            Assert.False(coalescer.TryAdd(segments[0]), shape + " merged with " + granted);
            Assert.True(new FrameCoalescer(shape.Ethernet, All).TryAdd(segments[0]), shape + " is refused for another reason"); // the grant alone keeps it out
        }
    }

    [Fact]
    public void TheSegmentsOfASuperPacketMergeBackIntoIt()
    {
        var random = new Random(404);
        FrameCoalescer coalescer;
        for (int round = 0; round < 800; round++)
        {
            SuperFrameModel.Shape shape = MergeableShape(random);
            byte[] read = SuperFrameModel.Build(shape, random);
            List<byte[]> segments = Split(read, shape.Ethernet);

            coalescer = new FrameCoalescer(shape.Ethernet, All);
            foreach (byte[] s in segments)
            {
                Assert.True(coalescer.TryAdd(s), shape + ": a segment of " + segments.Count + " was refused");
            }

            VirtioNetHeader h = coalescer.Held();
            Assert.Equal(segments.Count, coalescer.Count);
            byte[] expected = segments.Count == 1 ? segments[0] : read[VirtioNetHeader.Size..]; // one segment is written as it came
            Assert.True(expected.AsSpan().SequenceEqual(coalescer.HeldFrame), shape + ": the merge differs from the super-packet");
            if (segments.Count > 1)
            {
                var original = VirtioNetHeader.Read(read);
                Assert.Equal((original.GsoType, original.GsoSize, original.ChecksumStart, original.ChecksumOffset, original.Flags), (h.GsoType, h.GsoSize, h.ChecksumStart, h.ChecksumOffset, h.Flags));
            }
        }
    }

    [Theory]
    [InlineData("checksum")]
    [InlineData("sequence")]
    [InlineData("tos")]
    [InlineData("ack")]
    [InlineData("longer")]
    [InlineData("after-psh")]
    [InlineData("syn")]
    [InlineData("refinished")] // the control: checksums made again over an unchanged segment keep it in, so each change alone keeps one out
    public void ASegmentThatDoesNotContinueTheFlowIsKeptOut(string how)
    {
        var random = new Random(how.Length);
        SuperFrameModel.Shape shape = MergeableShape(random) with { Udp = false, TcpOptions = 12, Payload = 6000, Mss = 1000, TcpFlags = 0x10, Vlan = false, Ethernet = true };
        List<byte[]> segments = Split(SuperFrameModel.Build(shape, random), ethernet: true);
        byte[] bad = segments[3];
        int ip = 14;
        int l4 = ip + (shape.V6 ? 40 : 20);
        switch (how)
        {
            case "checksum": bad[^1] ^= 0x40; break;
            case "sequence": segments.RemoveAt(2); break;
            case "tos": bad[ip + 1] ^= 0x04; Refinish(bad, shape); break;
            case "ack": bad[l4 + 11] ^= 1; Refinish(bad, shape); break;
            case "longer": segments[2] = segments[2][..^10]; Refinish(segments[2], shape); break; // a shorter one ends a super-packet
            case "after-psh": segments[2][l4 + 13] |= 0x08; Refinish(segments[2], shape); break;
            case "refinished": Refinish(bad, shape); break;
            default: bad[l4 + 13] |= 0x02; Refinish(bad, shape); break;
        }

        var coalescer = new FrameCoalescer(ethernet: true, All);
        int i = 0;
        while (i < segments.Count && coalescer.TryAdd(segments[i]))
        {
            i++;
        }

        Assert.Equal(how switch { "sequence" => 2, "refinished" => segments.Count, _ => 3 }, i); // with one removed, the third that follows is the fourth: a gap
    }

    internal static SuperFrameModel.Shape MergeableShape(Random random)
    {
        SuperFrameModel.Shape s = SuperFramePropertyTests.RandomShape(random);
        int mss = random.Next(1, 9000);
        int segments = random.Next(1, FrameCoalescer.MaxSegments + 1);
        int payload = Math.Min(((segments - 1) * mss) + random.Next(1, mss + 1), 65535 - 40 - 60 - 1000);
        return s with { TcpFlags = s.Udp ? (byte)0 : (byte)(0x10 | (random.Next(2) * 0x08)), Mss = mss, Payload = payload };
    }

    internal static List<byte[]> Split(byte[] read, bool ethernet)
    {
        Assert.True(SuperFrame.TryRead(read, ethernet, out SuperFrame frame));
        var segments = new List<byte[]>();
        for (int i = 0; i < frame.SegmentCount; i++)
        {
            byte[] s = new byte[frame.LengthOf(i)];
            frame.WriteSegment(i, s);
            segments.Add(s);
        }

        return segments;
    }

    // The checksums again after a header was changed on purpose, so only the change itself can keep the segment out.
    private static void Refinish(byte[] segment, SuperFrameModel.Shape shape)
    {
        int ip = 14;
        if (shape.V6)
        {
            BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(ip + 4), (ushort)(segment.Length - ip - 40));
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(ip + 2), (ushort)(segment.Length - ip));
        }

        byte[] read = new byte[VirtioNetHeader.Size + segment.Length];
        segment.CopyTo(read, VirtioNetHeader.Size);
        int l4 = 14 + (shape.V6 ? 40 : 20);
        if (!shape.V6)
        {
            read[VirtioNetHeader.Size + 24] = read[VirtioNetHeader.Size + 25] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(read.AsSpan(VirtioNetHeader.Size + 24), SuperFrameModel.Checksum(read.AsSpan(VirtioNetHeader.Size + 14, 20), 0));
        }

        var h = new VirtioNetHeader { GsoType = VirtioNetHeader.GsoNone };
        h.Write(read);
        read[VirtioNetHeader.Size + l4 + 16] = read[VirtioNetHeader.Size + l4 + 17] = 0;
        List<byte[]> one = SuperFrameModel.Segment(read, shape with { Payload = segment.Length - l4 - 20 - shape.TcpOptions, Mss = 65535 });
        one[0].CopyTo(segment, 0);
    }
}
