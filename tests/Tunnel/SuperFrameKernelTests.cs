using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Perf.Batch;
using Perf.Tests.Infrastructure;
using Perf.Tunnel;

namespace Perf.Tests.Tunnel;

/// <summary>
/// The split against the kernel's own segmentation of the same super-packet: the frame goes to a packet socket with
/// PACKET_VNET_HDR on a TAP device that has no offloads, so the kernel cuts it in software (skb_gso_segment) and the
/// TAP's reader gets the segments a wire would carry. Each must equal what <see cref="SuperFrame"/> writes, byte for byte.
/// </summary>
[Trait(Lab.Trait, Lab.EveryKernel)]
[Collection("Network")]
public sealed class SuperFrameKernelTests
{
    private const int SolPacket = 263;
    private const int PacketVnetHdr = 15;
    private const int AfPacket = 17;
    private const int SockRaw = 3;

    [Theory]
    [InlineData(false, false, false, 1400)]
    [InlineData(true, false, false, 1380)]
    [InlineData(false, false, true, 1400)]
    [InlineData(false, true, false, 1372)]
    [InlineData(true, true, false, 1352)]
    [InlineData(false, false, false, 537)] // odd: payloads start at odd offsets of the super-packet
    public void EachSegmentEqualsWhatTheKernelsOwnSegmentationMakes(bool v6, bool udp, bool vlan, int mss)
    {
        HostTools.EnsureTunOrSkip();
        var shape = new SuperFrameModel.Shape(v6, udp, vlan, TcpOptions: udp ? 0 : 12, TcpFlags: 0x10 | 0x08 | 0x01 | 0x80, Payload: 20_000 + 11, Mss: mss);
        byte[] read = SuperFrameModel.Build(shape, new Random(mss));
        Assert.True(SuperFrame.TryRead(read, ethernet: true, out SuperFrame ours));
        var expected = new List<byte[]>();
        for (int i = 0; i < ours.SegmentCount; i++)
        {
            expected.Add(new byte[ours.LengthOf(i)]);
            ours.WriteSegment(i, expected[i]);
        }

        using NetNs ns = NetNs.Create("sfk");
        ns.Exec("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1");
        using TapDevice tap = ns.Run(() => TapDevice.CreateTap("sfk0")); // no offloads: the kernel segments for it
        ns.Exec("ip link set sfk0 up");
        int ifindex = int.Parse(ns.Exec("cat /sys/class/net/sfk0/ifindex").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        ushort ethertype = BinaryPrimitives.ReadUInt16BigEndian(read.AsSpan(VirtioNetHeader.Size + 12));
        int errno = ns.Run(() => SendWithHeader(read, ifindex, ethertype));
        Assert.SkipWhen(udp && errno == Errno.EINVAL && Environment.OSVersion.Version < new Version(6, 2),
            "a packet socket takes VIRTIO_NET_HDR_GSO_UDP_L4 from Linux 6.2; the split is checked on the newer lab kernels");
        Assert.Equal(0, errno);

        List<byte[]> kernel = ReadFrames(tap, expected.Count);
        Assert.Equal(expected.Count, kernel.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            int at = expected[i].AsSpan().CommonPrefixLength(kernel[i]);
            Assert.True(at == expected[i].Length && kernel[i].Length == at,
                "segment " + i + " of " + expected.Count + " differs from the kernel's at byte " + at + " (lengths " + expected[i].Length + " and " + kernel[i].Length + ")");
        }
    }

    private static unsafe int SendWithHeader(byte[] read, int ifindex, ushort ethertype)
    {
        int raw = Perf.Batch.Interop.Sys.Socket(AfPacket, SockRaw | Perf.Batch.Interop.SOCK_CLOEXEC, 0);
        Assert.True(raw >= 0, "socket(AF_PACKET): errno " + Marshal.GetLastPInvokeError());
        using var fd = new SafeFdHandle(raw);
        int on = 1;
        Assert.Equal(0, Perf.Batch.Interop.Sys.SetSockOpt(fd, SolPacket, PacketVnetHdr, &on, sizeof(int)));
        byte* address = stackalloc byte[20]; // struct sockaddr_ll
        new Span<byte>(address, 20).Clear();
        *(ushort*)address = AfPacket;
        BinaryPrimitives.WriteUInt16BigEndian(new Span<byte>(address + 2, 2), ethertype);
        *(int*)(address + 4) = ifindex;
        fixed (byte* p = read)
        {
            var iov = new Perf.Batch.Interop.IoVec { Base = p, Length = (nuint)read.Length };
            var msg = new Perf.Batch.Interop.MsgHdr { Name = address, NameLen = 20, Iov = &iov, IovLen = 1 };
            return Perf.Batch.Interop.Sys.SendMsg(fd, &msg, 0) == read.Length ? 0 : Marshal.GetLastPInvokeError();
        }
    }

    private static List<byte[]> ReadFrames(TapDevice tap, int count)
    {
        var frames = new List<byte[]>();
        byte[] buffer = new byte[70_000];
        DateTime end = DateTime.UtcNow.AddSeconds(10);
        while (frames.Count < count && DateTime.UtcNow < end)
        {
            int n = tap.TryRead(buffer);
            if (n < 0)
            {
                Thread.Sleep(1);
                continue;
            }

            frames.Add(buffer[..n]);
        }

        return frames;
    }
}
