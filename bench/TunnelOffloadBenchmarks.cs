using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using Perf.Tunnel;
using Perf.Tunnel.Offload;

namespace Perf.Bench;

/// <summary>
/// What a gateway pays in user space per byte of a TCP super-packet: the vectorised Internet checksum against the best
/// scalar loop (the baseline: 8 bytes per add, as the kernel's generic csum_partial) and a 16-bit-word loop, and cutting a 64 KB TSO super-packet into MSS-sized frames (copy, headers and a
/// full checksum each) and merging them back (a checksum check each, a copy). Per byte, through OperationsPerInvoke.
/// </summary>
[MemoryDiagnoser]
public class TunnelOffloadBenchmarks
{
    private const int Mss = 1348; // a 1400-byte IPv4 packet: 20 + 32 (TCP with timestamps) + 1348
    private byte[] _data = null!;
    private byte[] _read = null!;
    private byte[][] _segments = null!;
    private byte[] _slot = null!;
    private FrameCoalescer _coalescer = null!;

    [Params(1400, 65_000)]
    public int Bytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = new byte[Bytes];
        new Random(1).NextBytes(_data);
        _read = SuperPacket(Bytes);
        _slot = new byte[70_000];
        Assert(SuperFrame.TryRead(_read, ethernet: true, out SuperFrame frame), "the super-packet does not parse");
        _segments = new byte[frame.SegmentCount][];
        for (int i = 0; i < _segments.Length; i++)
        {
            _segments[i] = new byte[frame.LengthOf(i)];
            frame.WriteSegment(i, _segments[i]);
        }

        _coalescer = new FrameCoalescer(ethernet: true, TunnelOffloads.Tso4);
        Assert(Merge() == _segments.Length, "the segments did not merge back");
        Assert(Checksum() == Scalar() && Scalar64() == Scalar(), "the checksums differ");
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = 1)]
    public ushort Scalar64Checksum() => Scalar64();

    [Benchmark(OperationsPerInvoke = 1)]
    public ushort ScalarChecksum() => Scalar();

    [Benchmark(OperationsPerInvoke = 1)]
    public ushort VectorChecksum() => Checksum();

    [Benchmark(OperationsPerInvoke = 1, Description = "Split a super-packet of Bytes into 1400-byte frames")]
    public int Split()
    {
        SuperFrame.TryRead(_read, ethernet: true, out SuperFrame frame);
        int total = 0;
        for (int i = 0; i < frame.SegmentCount; i++)
        {
            total += frame.WriteSegment(i, _slot);
        }

        return total;
    }

    [Benchmark(OperationsPerInvoke = 1, Description = "Merge its frames back (checksums checked)")]
    public int Merge()
    {
        _coalescer.Clear();
        foreach (byte[] s in _segments)
        {
            _coalescer.TryAdd(s);
        }

        return _coalescer.Count;
    }

    private ushort Checksum() => InternetChecksum.Fold(InternetChecksum.Add(0, _data));

    // The best scalar loop: 8 bytes per step into a 64-bit sum (two 32-bit halves, so no carry is lost), folded once.
    private ushort Scalar64()
    {
        ReadOnlySpan<byte> d = _data;
        ulong sum = 0;
        int i = 0;
        for (; i + 8 <= d.Length; i += 8)
        {
            ulong x = System.Runtime.InteropServices.MemoryMarshal.Read<ulong>(d[i..]);
            sum += (x & 0xFFFF_FFFF) + (x >> 32);
        }

        for (; i + 1 < d.Length; i += 2)
        {
            sum += System.Runtime.InteropServices.MemoryMarshal.Read<ushort>(d[i..]);
        }

        if (i < d.Length)
        {
            sum += d[i];
        }

        return InternetChecksum.Fold(sum);
    }

    // The loop a straightforward implementation writes: 16-bit words, folded as they go.
    private ushort Scalar()
    {
        uint sum = 0;
        ReadOnlySpan<byte> d = _data;
        int i = 0;
        for (; i + 1 < d.Length; i += 2)
        {
            sum += BitConverter.IsLittleEndian ? (uint)(d[i] | (d[i + 1] << 8)) : BinaryPrimitives.ReadUInt16BigEndian(d[i..]);
        }

        if (i < d.Length)
        {
            sum += d[i];
        }

        while (sum > 0xFFFF)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }

        return (ushort)sum;
    }

    // A TSO super-packet as a TAP reader gets it: virtio-net header, Ethernet, IPv4, TCP with 12 bytes of options.
    private static byte[] SuperPacket(int payload)
    {
        const int Ip = VirtioNetHeader.Size + 14, L4 = Ip + 20, Data = L4 + 32;
        payload = Math.Min(payload, 65535 - 52);
        byte[] read = new byte[Data + payload];
        new Random(2).NextBytes(read.AsSpan(Data));
        BinaryPrimitives.WriteUInt16BigEndian(read.AsSpan(VirtioNetHeader.Size + 12), 0x0800);
        read[Ip] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(read.AsSpan(Ip + 2), (ushort)(read.Length - Ip));
        read[Ip + 6] = 0x40;
        read[Ip + 8] = 64;
        read[Ip + 9] = 6;
        read.AsSpan(Ip + 12, 8).Fill(10);
        InternetChecksum.Store(read.AsSpan(Ip + 10, 2), InternetChecksum.Add(0, read.AsSpan(Ip, 20)));
        read[L4 + 12] = 8 << 4;
        read[L4 + 13] = 0x10;
        read.AsSpan(L4 + 20, 12).Fill(1);
        new VirtioNetHeader
        {
            Flags = VirtioNetHeader.NeedsChecksum,
            GsoType = VirtioNetHeader.GsoTcpV4,
            HeaderLength = Data - VirtioNetHeader.Size,
            GsoSize = Mss,
            ChecksumStart = L4 - VirtioNetHeader.Size,
            ChecksumOffset = 16,
        }.Write(read);
        return read;
    }

    private static void Assert(bool condition, string message)
    {
        if (!condition)
        {
            throw new InvalidOperationException(message);
        }
    }
}
