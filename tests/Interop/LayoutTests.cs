using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Perf.Batch;
using Perf.Tunnel;

namespace Perf.Tests.Interop;

using Sys = Perf.Batch.Interop;
using Tun = Perf.Tunnel.TunInterop;
using Perf.Tests.Infrastructure;

/// <summary>
/// Pins every struct mirror and constant to the Linux LP64 ABI. x86-64 and arm64 share these layouts
/// (both LP64, natural alignment, asm-generic socket constants), so one table serves both.
/// </summary>
[Trait(Lab.Trait, Lab.EveryKernel)]
public sealed class LayoutTests
{
    [Fact]
    public void RunsOnA64BitLinuxAbiWeMirror()
    {
        Assert.True(OperatingSystem.IsLinux());
        Assert.Contains(RuntimeInformation.ProcessArchitecture, new[] { Architecture.X64, Architecture.Arm64 });
        Assert.Equal(8, IntPtr.Size);
    }

    [Fact]
    public void IoVec() => AssertLayout<Sys.IoVec>(16, ("Base", 0), ("Length", 8));

    [Fact]
    public void MsgHdr() => AssertLayout<Sys.MsgHdr>(56,
        ("Name", 0), ("NameLen", 8), ("Iov", 16), ("IovLen", 24), ("Control", 32), ("ControlLen", 40), ("Flags", 48));

    [Fact]
    public void MMsgHdr() => AssertLayout<Sys.MMsgHdr>(64, ("Hdr", 0), ("Len", 56));

    [Fact]
    public void CMsgHdr() => AssertLayout<Sys.CMsgHdr>(16, ("Len", 0), ("Level", 8), ("Type", 12));

    [Fact]
    public void SockAddrIn() => AssertLayout<Sys.SockAddrIn>(16, ("Family", 0), ("Port", 2), ("Addr", 4), ("Zero", 8));

    [Fact]
    public void SockAddrIn6() => AssertLayout<Sys.SockAddrIn6>(28, ("Family", 0), ("Port", 2), ("FlowInfo", 4), ("Addr", 8), ("ScopeId", 24));

    [Fact]
    public void PollFd() => AssertLayout<Sys.PollFd>(8, ("Fd", 0), ("Events", 4), ("REvents", 6));

    [Fact]
    public void TimeSpec() => AssertLayout<Sys.TimeSpec>(16, ("Sec", 0), ("NSec", 8));

    [Fact]
    public void SockTxTime() => AssertLayout<Sys.SockTxTime>(8, ("ClockId", 0), ("Flags", 4));

    [Fact]
    public void CmsgMacros()
    {
        Assert.Equal(20, Sys.CMsgLen(4));   // CMSG_LEN(4): what SO_PRIORITY demands exactly
        Assert.Equal(24, Sys.CMsgSpace(4)); // CMSG_SPACE(4)
        Assert.Equal(24, Sys.CMsgSpace(2)); // UDP_SEGMENT's u16 still takes 24
        Assert.Equal(SlotLayout.PriorityCmsgLen, Sys.CMsgLen(4));
        Assert.Equal(SlotLayout.PriorityCmsgSpace, Sys.CMsgSpace(4));
        Assert.True(SlotLayout.CmsgAreaSize >= 4 * Sys.CMsgSpace(4), "room for IP_TOS, SO_PRIORITY or SO_MARK, SCM_TXTIME and UDP_SEGMENT");
        Assert.Equal(0, SlotLayout.CmsgOffset % 8);
        Assert.True(SlotLayout.CmsgOffset + SlotLayout.CmsgAreaSize <= SlotLayout.MetaStride);
    }

    [Fact]
    public void Constants()
    {
        Assert.Equal(2, Sys.AF_INET);
        Assert.Equal(10, Sys.AF_INET6);
        Assert.Equal(2, Sys.SOCK_DGRAM);
        Assert.Equal(0x800, Sys.SOCK_NONBLOCK);
        Assert.Equal(0x80000, Sys.SOCK_CLOEXEC);
        Assert.Equal(1, Sys.SOL_SOCKET);
        Assert.Equal(12, Sys.SO_PRIORITY);
        Assert.Equal(36, Sys.SO_MARK);
        Assert.Equal(82, Sys.SO_RCVPRIORITY);
        Assert.Equal(32, Sys.SO_SNDBUFFORCE);
        Assert.Equal(33, Sys.SO_RCVBUFFORCE);
        Assert.Equal(103, Sys.UDP_SEGMENT);
        Assert.Equal(0x40, Sys.MSG_DONTWAIT);
        Assert.Equal(0x20, Sys.MSG_TRUNC);
        Assert.Equal(4, Sys.POLLOUT);
        Assert.Equal(1024, Sys.UIO_MAXIOV);
        Assert.Equal(61, Sys.SO_TXTIME); // SCM_TXTIME is the same number
        Assert.Equal(2, Sys.SOF_TXTIME_REPORT_ERRORS);
        Assert.Equal(11, Sys.CLOCK_TAI);
        Assert.Equal(6, Sys.SO_EE_ORIGIN_TXTIME);
        Assert.Equal(1, Sys.SO_EE_CODE_TXTIME_INVALID_PARAM);
        Assert.Equal(2, Sys.SO_EE_CODE_TXTIME_MISSED);
        Assert.Equal(1, Sys.CLOCK_MONOTONIC);
        Assert.Equal(24, Sys.CMsgLen(8));   // CMSG_LEN(8): what SCM_TXTIME demands exactly
        Assert.Equal(24, Sys.CMsgSpace(8));
    }

    [Fact]
    [Trait(Lab.Trait, Lab.HostOnly)] // the headers, not the running kernel, decide it; gcc is slow under TCG
    public void EpollTunAndVirtioNetMatchTheCHeaders()
    {
        bool x64 = RuntimeInformation.ProcessArchitecture == Architecture.X64;
        Assert.Equal(x64 ? 12 : 16, Sys.EpollEventSize); // packed on x86-64 only
        Assert.Equal(x64 ? 4 : 8, Sys.EpollDataOffset);
        Assert.Equal(1u << 30, Sys.EPOLLONESHOT);
        Assert.Equal(0x400454ca, (int)Tun.TUNSETIFF);
        Assert.Equal(40, Tun.IfReqSize);
        Assert.Equal(Tun.VirtioNetHdrSize, Marshal.SizeOf<Perf.Tunnel.VirtioNetHeader>());

        // The same numbers from the C headers, where a compiler is at hand (CI installs gcc).
        Assert.SkipUnless(HostTools.HasTool("gcc"), "no gcc to compile the C side of the check");
        string dir = Directory.CreateTempSubdirectory("perf-abi-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "abi.c"), """
                #include <stdio.h>
                #include <stddef.h>
                #include <sys/epoll.h>
                #include <sys/ioctl.h>
                #include <net/if.h>
                #include <linux/if_tun.h>
                #include <linux/virtio_net.h>
                #include <netinet/in.h>
                int main(void) {
                  printf("%zu %zu %u %lu %zu %d %d %d %d %d\n", sizeof(struct epoll_event), offsetof(struct epoll_event, data),
                         (unsigned)EPOLLONESHOT, (unsigned long)TUNSETIFF, sizeof(struct ifreq), IFF_TAP, IFF_NO_PI, IP_TOS, IPV6_TCLASS, EPOLL_CTL_MOD);
                  printf("%lu %d %d %zu %zu %zu %zu %zu %d %d %d %d %d %d %d %d %d %d %d %d\n", (unsigned long)TUNSETOFFLOAD, IFF_VNET_HDR, IFF_MULTI_QUEUE,
                         sizeof(struct virtio_net_hdr), offsetof(struct virtio_net_hdr, hdr_len), offsetof(struct virtio_net_hdr, gso_size),
                         offsetof(struct virtio_net_hdr, csum_start), offsetof(struct virtio_net_hdr, csum_offset),
                         TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN, 0x20, 0x40,
                         VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6, 5, VIRTIO_NET_HDR_GSO_ECN);
                  return 0;
                }
                """);
            (int code, string output) = HostTools.Run("gcc", ["-o", Path.Combine(dir, "abi"), Path.Combine(dir, "abi.c")], TimeSpan.FromSeconds(60));
            Assert.True(code == 0, output);
            (code, output) = HostTools.Run(Path.Combine(dir, "abi"), [], TimeSpan.FromSeconds(10));
            string[] lines = output.Trim().Split('\n');
            Assert.Equal(
                $"{Sys.EpollEventSize} {Sys.EpollDataOffset} {Sys.EPOLLONESHOT} {Tun.TUNSETIFF} {Tun.IfReqSize} {Tun.IFF_TAP} {Tun.IFF_NO_PI} {Sys.IP_TOS} {Sys.IPV6_TCLASS} {Sys.EPOLL_CTL_MOD}",
                lines[0]);
            // TUN_F_USO4/6 (0x20, 0x40) and VIRTIO_NET_HDR_GSO_UDP_L4 (5) are printed as numbers: older headers lack them (the
            // installed ones here do), and the numbers are fixed ABI.
            Assert.Equal(
                $"{Tun.TUNSETOFFLOAD} {Tun.IFF_VNET_HDR} {Tun.IFF_MULTI_QUEUE} {Tun.VirtioNetHdrSize} " +
                $"{Marshal.OffsetOf<VirtioNetHeader>(nameof(VirtioNetHeader.HeaderLength))} {Marshal.OffsetOf<VirtioNetHeader>(nameof(VirtioNetHeader.GsoSize))} " +
                $"{Marshal.OffsetOf<VirtioNetHeader>(nameof(VirtioNetHeader.ChecksumStart))} {Marshal.OffsetOf<VirtioNetHeader>(nameof(VirtioNetHeader.ChecksumOffset))} " +
                $"{(int)TunnelOffloads.Checksum} {(int)TunnelOffloads.Tso4} {(int)TunnelOffloads.Tso6} {(int)TunnelOffloads.TsoEcn} {(int)TunnelOffloads.Uso4} {(int)TunnelOffloads.Uso6} " +
                $"{VirtioNetHeader.NeedsChecksum} {VirtioNetHeader.DataValid} {VirtioNetHeader.GsoTcpV4} {VirtioNetHeader.GsoTcpV6} {VirtioNetHeader.GsoUdpL4} {VirtioNetHeader.GsoEcn}",
                lines[1]);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void AssertLayout<T>(int size, params (string Field, int Offset)[] fields)
        where T : unmanaged
    {
        Assert.Equal(size, Unsafe.SizeOf<T>());
        Assert.Equal(size, Marshal.SizeOf<T>());
        foreach ((string field, int offset) in fields)
        {
            Assert.Equal(offset, (int)Marshal.OffsetOf<T>(field));
        }
    }
}
