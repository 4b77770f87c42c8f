using System.Buffers.Binary;
using Perf.Tests.Infrastructure;
using Perf.Tunnel;
using Perf.Tunnel.Offload;

namespace Perf.Tests.Tunnel;

/// <summary>
/// The split of TSO and USO super-packets against <see cref="SuperFrameModel"/> over random shapes: IPv4 and IPv6, TCP
/// with options and every flag, UDP, a VLAN tag or none, Ethernet or bare IP, segment sizes from 1 byte up, payloads up
/// to 64 KB, and checksum fields holding garbage (the split computes every checksum itself). Pure computation.
/// </summary>
[Trait(Lab.Trait, Lab.HostOnly)]
public sealed class SuperFramePropertyTests
{
    [Fact]
    public void EverySegmentEqualsTheModelByteForByte()
    {
        var random = new Random(3003);
        byte[] destination = new byte[70_000];
        for (int round = 0; round < 1500; round++)
        {
            SuperFrameModel.Shape shape = RandomShape(random);
            byte[] read = SuperFrameModel.Build(shape, random, garbleChecksums: random.Next(4) == 0);
            List<byte[]> expected = SuperFrameModel.Segment(read, shape);

            Assert.True(SuperFrame.TryRead(read, shape.Ethernet, out SuperFrame frame), shape.ToString());
            Assert.Equal(expected.Count, frame.SegmentCount);
            Assert.Equal(expected[0].Length, frame.SegmentLength);
            for (int i = 0; i < expected.Count; i++)
            {
                int n = frame.WriteSegment(i, destination);
                Assert.True(expected[i].AsSpan().SequenceEqual(destination.AsSpan(0, n)), shape + ": segment " + i + " of " + expected.Count + " differs");
            }
        }
    }

    [Fact]
    public void AChecksumLeftToTheDeviceIsFinishedOnAFrameThatIsNotCut()
    {
        var random = new Random(77);
        for (int round = 0; round < 300; round++)
        {
            SuperFrameModel.Shape shape = RandomShape(random) with { Mss = 65535 };
            byte[] read = SuperFrameModel.Build(shape, random);
            var header = VirtioNetHeader.Read(read);
            header.GsoType = VirtioNetHeader.GsoNone;
            header.GsoSize = 0;
            header.Write(read);
            byte[] expected = SuperFrameModel.Segment(read, shape with { Mss = 65535 })[0];

            Assert.True(SuperFrame.TryRead(read, shape.Ethernet, out SuperFrame frame));
            Assert.False(frame.IsSegmented);
            byte[] packet = new byte[frame.LengthOf(0)];
            frame.WriteSegment(0, packet);
            int field = header.ChecksumStart + header.ChecksumOffset;
            Assert.Equal(BinaryPrimitives.ReadUInt16BigEndian(expected.AsSpan(field)), BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(field)));
        }
    }

    [Fact]
    public void AHeaderThatDoesNotFitItsFrameIsRefusedAndNothingThrows()
    {
        var random = new Random(11);
        byte[] destination = new byte[70_000];
        int refused = 0;
        for (int round = 0; round < 3000; round++)
        {
            SuperFrameModel.Shape shape = RandomShape(random) with { Payload = random.Next(0, 3000) };
            byte[] read = SuperFrameModel.Build(shape, random);
            Mutate(read, random);
            if (!SuperFrame.TryRead(read.AsSpan(0, random.Next(4) == 0 ? random.Next(read.Length) : read.Length), shape.Ethernet, out SuperFrame frame))
            {
                refused++;
                continue;
            }

            for (int i = 0; i < frame.SegmentCount; i++)
            {
                Assert.Equal(frame.LengthOf(i), frame.WriteSegment(i, destination));
            }
        }

        Assert.True(refused > 500, "only " + refused + " of 3000 mutated frames refused: the mutations do not reach the checks");
    }

    [Fact]
    public void TheVectorisedChecksumEqualsTheWordByWordOne()
    {
        var random = new Random(5);
        byte[] data = new byte[5000];
        random.NextBytes(data);
        for (int length = 0; length < 600; length++)
        {
            Check(data.AsSpan(0, length));
        }

        for (int round = 0; round < 400; round++)
        {
            int start = random.Next(0, 200) * 2;
            Check(data.AsSpan(start, random.Next(0, data.Length - start)));
        }

        byte[] rfc = new byte[2];
        InternetChecksum.Store(rfc, InternetChecksum.Add(0, [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]));
        Assert.Equal(0x220d, BinaryPrimitives.ReadUInt16BigEndian(rfc)); // RFC 1071 3: the sum is ddf2, its complement 220d
        byte[] ones = new byte[70_000];
        ones.AsSpan().Fill(0xFF); // carries in every lane
        Check(ones);

        static void Check(ReadOnlySpan<byte> span)
        {
            byte[] field = new byte[2];
            InternetChecksum.Store(field, InternetChecksum.Add(0, span));
            Assert.Equal(SuperFrameModel.Checksum(span, 0), BinaryPrimitives.ReadUInt16BigEndian(field));
        }
    }

    internal static SuperFrameModel.Shape RandomShape(Random random)
    {
        bool udp = random.Next(3) == 0;
        int mss = random.Next(5) switch
        {
            0 => random.Next(1, 16),
            1 => random.Next(16, 600),
            _ => random.Next(600, 9000),
        };
        int payload = random.Next(4) == 0 ? random.Next(1, 2 * mss + 2) : random.Next(1, Math.Min(60_000, mss * 200));
        return new SuperFrameModel.Shape(
            V6: random.Next(2) == 0,
            Udp: udp,
            Vlan: random.Next(4) == 0,
            TcpOptions: udp ? 0 : random.Next(0, 11) * 4,
            TcpFlags: udp ? (byte)0 : (byte)(0x10 | (random.Next(2) * 0x01) | (random.Next(2) * 0x08) | (random.Next(2) * 0x80) | (random.Next(2) * 0x40)),
            Payload: payload,
            Mss: mss,
            Ethernet: random.Next(5) != 0);
    }

    // One field of the header or the frame's headers set to a value that may not fit.
    private static void Mutate(byte[] read, Random random)
    {
        var h = VirtioNetHeader.Read(read);
        switch (random.Next(6))
        {
            case 0: h.ChecksumStart = (ushort)random.Next(0, 200); break;
            case 1: h.ChecksumOffset = (ushort)random.Next(0, 100); break;
            case 2: h.GsoType = (byte)random.Next(0, 8); break;
            case 3: h.GsoSize = (ushort)random.Next(0, 3); break;
            case 4: read[VirtioNetHeader.Size + random.Next(0, Math.Min(80, read.Length - VirtioNetHeader.Size))] = (byte)random.Next(256); break;
            default: h.Flags = (byte)random.Next(0, 4); break;
        }

        h.Write(read);
    }
}
