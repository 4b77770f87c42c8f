using System.Buffers.Binary;
using System.Net;
using Perf.Batch;
using Perf.Tests.Infrastructure;
using Perf.Tunnel;

namespace Perf.Tests.Tunnel;

/// <summary>
/// A TAP device with the virtio-net header and offloads, as a tunnel gateway opens it: what the kernel grants on this
/// kernel, and what a UDP GSO send routed into the device looks like from the reader's side (one super-packet with its
/// header where USO is granted, finished datagrams where it is not).
/// </summary>
[Trait(Lab.Trait, Lab.EveryKernel)]
public sealed class TapDeviceTests
{
    private const TunnelOffloads All = TunnelOffloads.Checksum | TunnelOffloads.Tso4 | TunnelOffloads.Tso6 | TunnelOffloads.Uso4 | TunnelOffloads.Uso6;

    private static bool KernelHasUso => Environment.OSVersion.Version >= new Version(6, 2);

    [Fact]
    public void TheKernelGrantsTsoAndChecksumAndUsoFrom62()
    {
        HostTools.EnsureTunOrSkip();
        using NetNs ns = NetNs.Create("tapoff");
        using TapDevice tap = ns.Run(() => TapDevice.CreateTap("ptap0", new TapOptions { VirtioNetHeader = true, Offloads = All }));
        Assert.True(tap.HasVirtioNetHeader);
        Assert.Equal(TunnelOffloads.Checksum | TunnelOffloads.Tso4 | TunnelOffloads.Tso6, tap.Offloads & ~(TunnelOffloads.Uso4 | TunnelOffloads.Uso6));
        Assert.Equal(KernelHasUso, tap.Offloads.HasFlag(TunnelOffloads.Uso4 | TunnelOffloads.Uso6));
    }

    [Fact]
    public void AUdpGsoSendReachesTheReaderAsOneSuperPacketWhereUsoIsGranted()
    {
        HostTools.EnsureTunOrSkip();
        using NetNs ns = NetNs.Create("tapgso");
        using TapDevice tap = ns.Run(() => TapDevice.CreateTap("ptap0", new TapOptions { VirtioNetHeader = true, Offloads = All }));
        ns.Exec("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.ptap0.disable_ipv6=1");
        ns.Exec("ip addr add 198.19.0.1/24 dev ptap0");
        ns.Exec("ip link set ptap0 up");
        ns.Exec("ip neigh replace 198.19.0.2 lladdr 02:00:00:00:00:02 dev ptap0 nud permanent"); // no ARP: only our frames
        using PacketSender tx = ns.Run(() => PacketSender.Create(new PacketSenderOptions
        {
            ConnectTo = new DatagramAddress(IPAddress.Parse("198.19.0.2"), 9000),
            Segmentation = SegmentationMode.On,
        }));
        byte[] payload = new byte[1000];
        for (int i = 0; i < 8; i++)
        {
            payload[0] = (byte)i;
            Assert.True(tx.TryEnqueue(payload, 0));
        }

        Assert.Equal(8, tx.Flush().Sent);
        Assert.Equal(1, tx.Stats.SegmentedMessages);

        List<byte[]> frames = ReadUdpFrames(tap, expectedBytes: 8 * 1000);
        if (tap.Offloads.HasFlag(TunnelOffloads.Uso4))
        {
            byte[] f = Assert.Single(frames);
            VirtioNetHeader h = VirtioNetHeader.Read(f);
            Assert.Equal(VirtioNetHeader.GsoUdpL4, h.GsoType);
            Assert.Equal(1000, h.GsoSize);
            Assert.Equal(VirtioNetHeader.NeedsChecksum, h.Flags & VirtioNetHeader.NeedsChecksum);
            Assert.Equal(14 + 20, h.ChecksumStart);   // the UDP header, after Ethernet and IPv4
            Assert.Equal(6, h.ChecksumOffset);         // the UDP checksum field
            Assert.Equal(14 + 20 + 8, h.HeaderLength);
            Assert.Equal(VirtioNetHeader.Size + 14 + 20 + 8 + 8000, f.Length);
        }
        else
        {
            // Before 6.2 the kernel cuts the run before the device: eight finished datagrams (their checksums may still
            // be left to the reader, which the header says).
            Assert.Equal(8, frames.Count);
            Assert.All(frames, f => Assert.Equal(VirtioNetHeader.GsoNone, VirtioNetHeader.Read(f).GsoType));
            Assert.All(frames, f => Assert.Equal(VirtioNetHeader.Size + 14 + 20 + 8 + 1000, f.Length));
        }
    }

    [Fact]
    public void AMultiQueueDeviceTakesOneQueuePerOpen()
    {
        HostTools.EnsureTunOrSkip();
        using NetNs ns = NetNs.Create("tapmq");
        var options = new TapOptions { VirtioNetHeader = true, MultiQueue = true, Offloads = TunnelOffloads.Checksum | TunnelOffloads.Tso4 };
        using TapDevice first = ns.Run(() => TapDevice.CreateTap("pmq0", options));
        using TapDevice second = ns.Run(() => TapDevice.CreateTap("pmq0", options));
        Assert.Equal(first.Name, second.Name);
        Assert.Equal(first.Offloads, second.Offloads);
        PerfSocketException e = Assert.Throws<PerfSocketException>(() => ns.Run(() => TapDevice.CreateTap("pmq0")));
        Assert.Equal(Errno.EINVAL, e.Errno); // a single-queue open of a multi-queue device
    }

    [Fact]
    public void OffloadsWithoutTheHeaderAreRefusedBeforeAnythingOpens()
    {
        ArgumentException e = Assert.Throws<ArgumentException>(() => TapDevice.CreateTap("pnohdr0", new TapOptions { Offloads = TunnelOffloads.Checksum }));
        Assert.Contains("VirtioNetHeader", e.Message, StringComparison.Ordinal);
    }

    // The device's IPv4/UDP frames (each with its virtio-net header) until the payload bytes expected arrived, 2 s at most.
    private static List<byte[]> ReadUdpFrames(TapDevice tap, int expectedBytes)
    {
        var frames = new List<byte[]>();
        byte[] buffer = new byte[70_000];
        int payload = 0;
        long deadline = Environment.TickCount64 + 2000;
        while (payload < expectedBytes && Environment.TickCount64 < deadline)
        {
            int n = tap.TryRead(buffer);
            if (n < 0)
            {
                Thread.Sleep(5);
                continue;
            }

            ReadOnlySpan<byte> eth = buffer.AsSpan(VirtioNetHeader.Size, n - VirtioNetHeader.Size);
            if (eth.Length >= 14 + 20 + 8 && BinaryPrimitives.ReadUInt16BigEndian(eth[12..]) == 0x0800 && eth[14 + 9] == 17)
            {
                frames.Add(buffer[..n]);
                payload += eth.Length - 14 - 20 - 8;
            }
        }

        return frames;
    }
}
