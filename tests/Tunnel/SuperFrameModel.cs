using System.Buffers.Binary;
using Perf.Tunnel;

namespace Perf.Tests.Tunnel;

/// <summary>
/// Builds super-packets as a kernel with TSO or USO hands them to a TAP reader, and cuts them the plain way, a field at a
/// time with big-endian reads and a word-by-word checksum: the reference the production split is checked against.
/// </summary>
internal static class SuperFrameModel
{
    internal sealed record Shape(bool V6, bool Udp, bool Vlan, int TcpOptions, byte TcpFlags, int Payload, int Mss, bool Ethernet = true);

    /// <summary>A virtio-net header and a frame of <paramref name="shape"/>, its checksum field holding the pseudo-header's sum.</summary>
    internal static byte[] Build(Shape shape, Random random, bool garbleChecksums = false)
    {
        int link = !shape.Ethernet ? 0 : shape.Vlan ? 18 : 14;
        int ipLength = shape.V6 ? 40 : 20;
        int l4Length = shape.Udp ? 8 : 20 + shape.TcpOptions;
        int ip = VirtioNetHeader.Size + link;
        int l4 = ip + ipLength;
        byte[] read = new byte[l4 + l4Length + shape.Payload];
        random.NextBytes(read.AsSpan(l4 + l4Length));
        if (shape.Ethernet)
        {
            random.NextBytes(read.AsSpan(VirtioNetHeader.Size, 12)); // MACs
            int type = VirtioNetHeader.Size + 12;
            if (shape.Vlan)
            {
                BinaryPrimitives.WriteUInt16BigEndian(read.AsSpan(type), 0x8100);
                BinaryPrimitives.WriteUInt16BigEndian(read.AsSpan(type + 2), (ushort)random.Next(1, 4095));
                type += 4;
            }

            BinaryPrimitives.WriteUInt16BigEndian(read.AsSpan(type), shape.V6 ? (ushort)0x86DD : (ushort)0x0800);
        }

        byte protocol = shape.Udp ? (byte)17 : (byte)6;
        int total = read.Length - ip;
        WriteIp(read, ip, total, protocol, shape.V6, random, garbleChecksums);

        random.NextBytes(read.AsSpan(l4, 4)); // ports
        if (shape.Udp)
        {
            BinaryPrimitives.WriteUInt16BigEndian(read.AsSpan(l4 + 4), (ushort)(total - ipLength));
        }
        else
        {
            random.NextBytes(read.AsSpan(l4 + 4, 8)); // sequence and acknowledgement numbers
            read[l4 + 12] = (byte)((20 + shape.TcpOptions) / 4 << 4);
            read[l4 + 13] = shape.TcpFlags;
            random.NextBytes(read.AsSpan(l4 + 14, 2)); // window
            read.AsSpan(l4 + 20, shape.TcpOptions).Fill(1); // NOPs
        }

        int field = l4 + (shape.Udp ? 6 : 16);
        // The kernel leaves the pseudo-header's sum, folded, not complemented: what NEEDS_CSUM means.
        ushort pseudo = (ushort)~Checksum([], PseudoSum(read.AsSpan(VirtioNetHeader.Size), ip - VirtioNetHeader.Size, shape.V6, protocol, total - ipLength));
        BinaryPrimitives.WriteUInt16BigEndian(read.AsSpan(field), garbleChecksums ? (ushort)random.Next(65536) : pseudo);
        var header = new VirtioNetHeader
        {
            Flags = VirtioNetHeader.NeedsChecksum,
            GsoType = shape.Udp ? VirtioNetHeader.GsoUdpL4 : shape.V6 ? VirtioNetHeader.GsoTcpV6 : VirtioNetHeader.GsoTcpV4,
            HeaderLength = (ushort)(read.Length - VirtioNetHeader.Size), // a hint only: the kernel may say the whole frame
            GsoSize = (ushort)shape.Mss,
            ChecksumStart = (ushort)(l4 - VirtioNetHeader.Size),
            ChecksumOffset = (ushort)(shape.Udp ? 6 : 16),
        };
        header.Write(read);
        return read;
    }

    private static void WriteIp(byte[] read, int ip, int total, byte protocol, bool v6, Random random, bool garbleChecksums)
    {
        if (v6)
        {
            BinaryPrimitives.WriteUInt32BigEndian(read.AsSpan(ip), 0x6000_0000u | ((uint)random.Next(256) << 20) | (uint)random.Next(1 << 20));
            BinaryPrimitives.WriteUInt16BigEndian(read.AsSpan(ip + 4), (ushort)(total - 40));
            read[ip + 6] = protocol;
            read[ip + 7] = 64;
            random.NextBytes(read.AsSpan(ip + 8, 32));
        }
        else
        {
            read[ip] = 0x45;
            read[ip + 1] = (byte)random.Next(256);
            BinaryPrimitives.WriteUInt16BigEndian(read.AsSpan(ip + 2), (ushort)total);
            BinaryPrimitives.WriteUInt16BigEndian(read.AsSpan(ip + 4), (ushort)random.Next(65536));
            read[ip + 6] = 0x40; // DF
            read[ip + 8] = 64;
            read[ip + 9] = protocol;
            random.NextBytes(read.AsSpan(ip + 12, 8));
            BinaryPrimitives.WriteUInt16BigEndian(read.AsSpan(ip + 10), garbleChecksums ? (ushort)random.Next(65536) : Checksum(read.AsSpan(ip, 20), 0));
        }
    }

    /// <summary>The packets a wire would carry for a frame built by <see cref="Build"/>.</summary>
    internal static List<byte[]> Segment(byte[] read, Shape shape)
    {
        byte[] frame = read[VirtioNetHeader.Size..];
        int ip = !shape.Ethernet ? 0 : shape.Vlan ? 18 : 14;
        int l4 = ip + (shape.V6 ? 40 : 20);
        int headers = l4 + (shape.Udp ? 8 : (frame[l4 + 12] >> 4) * 4);
        int payload = frame.Length - headers;
        var segments = new List<byte[]>();
        int count = Math.Max(1, (payload + shape.Mss - 1) / shape.Mss);
        for (int i = 0; i < count; i++)
        {
            int chunk = Math.Min(shape.Mss, payload - (i * shape.Mss));
            byte[] s = new byte[headers + chunk];
            Array.Copy(frame, s, headers);
            Array.Copy(frame, headers + (i * shape.Mss), s, headers, chunk);
            if (shape.V6)
            {
                BinaryPrimitives.WriteUInt16BigEndian(s.AsSpan(ip + 4), (ushort)(s.Length - ip - 40));
            }
            else
            {
                BinaryPrimitives.WriteUInt16BigEndian(s.AsSpan(ip + 2), (ushort)(s.Length - ip));
                BinaryPrimitives.WriteUInt16BigEndian(s.AsSpan(ip + 4), (ushort)(BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(ip + 4)) + i));
                s[ip + 10] = s[ip + 11] = 0;
                BinaryPrimitives.WriteUInt16BigEndian(s.AsSpan(ip + 10), Checksum(s.AsSpan(ip, 20), 0));
            }

            int field;
            if (shape.Udp)
            {
                BinaryPrimitives.WriteUInt16BigEndian(s.AsSpan(l4 + 4), (ushort)(s.Length - l4));
                field = l4 + 6;
            }
            else
            {
                BinaryPrimitives.WriteUInt32BigEndian(s.AsSpan(l4 + 4), BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(l4 + 4)) + (uint)(i * shape.Mss));
                if (i < count - 1)
                {
                    s[l4 + 13] &= unchecked((byte)~0x09); // FIN, PSH
                }

                if (i > 0)
                {
                    s[l4 + 13] &= 0x7F; // CWR
                }

                field = l4 + 16;
            }

            s[field] = s[field + 1] = 0;
            ushort c = Checksum(s.AsSpan(l4), PseudoSum(s, ip, shape.V6, shape.Udp ? (byte)17 : (byte)6, s.Length - l4));
            BinaryPrimitives.WriteUInt16BigEndian(s.AsSpan(field), shape.Udp && c == 0 ? (ushort)0xFFFF : c);
            segments.Add(s);
        }

        return segments;
    }

    /// <summary>The complement of the ones'-complement sum of big-endian words, plus <paramref name="initial"/>.</summary>
    internal static ushort Checksum(ReadOnlySpan<byte> data, uint initial)
    {
        uint sum = initial;
        for (int i = 0; i < data.Length; i += 2)
        {
            sum += (uint)(data[i] << 8) | (i + 1 < data.Length ? data[i + 1] : 0u);
            sum = (sum & 0xFFFF) + (sum >> 16);
        }

        sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    private static uint PseudoSum(ReadOnlySpan<byte> packet, int ip, bool v6, byte protocol, int l4Length)
    {
        ReadOnlySpan<byte> addresses = v6 ? packet.Slice(ip + 8, 32) : packet.Slice(ip + 12, 8);
        uint sum = (uint)(ushort)~Checksum(addresses, 0);
        sum += protocol + (uint)l4Length;
        sum = (sum & 0xFFFF) + (sum >> 16);
        return (sum & 0xFFFF) + (sum >> 16);
    }
}
