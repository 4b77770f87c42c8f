using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using Perf.Batch;
using Perf.Tests.Infrastructure;
using Sys = Perf.Batch.Interop.Sys;

namespace Perf.Tests.Qdiscs;

public sealed partial class PriorityQdiscTests
{
    private const int AF_PACKET = 17;
    private const int SOCK_RAW = 3;
    private const int SOL_PACKET = 263;
    private const int PACKET_AUXDATA = 8;
    private const ushort EthPAllBigEndian = 0x0300; // htons(ETH_P_ALL)
    private const uint TP_STATUS_VLAN_VALID = 0x10;

    [Theory]
    [MemberData(nameof(Strategies))]
    public unsafe void VlanEgressQosMapTurnsEachDatagramsPriorityIntoItsPcpOnTheWire(PriorityStrategy strategy)
    {
        // A's VLAN device maps priority N to PCP N for 0-7 (egress-qos-map); a priority with no entry gets PCP 0. The
        // map is applied as the VLAN device transmits, so mark-bpf's classifier belongs there (the route's egress
        // device), not on the veth under it, where the PCP is already chosen.
        using QdiscLab lab = QdiscLab.Create("vlan", strategy, rootQdisc: null, classifierDevice: "vlan10", setup: net =>
        {
            net.A.ExecOrSkip("ip link add link " + VethPair.DeviceA + " name vlan10 type vlan id 10 egress-qos-map 0:0 1:1 2:2 3:3 4:4 5:5 6:6 7:7");
            net.A.Exec("ip addr add 198.18.1.1/30 dev vlan10");
            net.A.Exec("ip link set vlan10 up");
            net.A.Exec("ip neigh replace 198.18.1.2 lladdr " + net.B.MacOf(VethPair.DeviceB) + " dev vlan10 nud permanent");
        });
        int ifindex = int.Parse(lab.Net.B.Exec("cat /sys/class/net/" + VethPair.DeviceB + "/ifindex").Trim(), CultureInfo.InvariantCulture);
        using SafeFdHandle tap = lab.Net.B.Run(() => OpenTap(ifindex));
        var dest = new DatagramAddress(IPAddress.Parse("198.18.1.2"), 9);
        uint[] priorities = [0, 1, 2, 3, 4, 5, 6, 7, 0x10003, 9];
        foreach (uint p in priorities)
        {
            lab.Send(p, dest);
        }

        // Each frame on B's veth: the tag rides as metadata (veth offloads it), reported in PACKET_AUXDATA.
        var seen = new Dictionary<uint, List<int>>();
        int frames = 0;
        long deadline = Environment.TickCount64 + 10_000;
        byte* buf = stackalloc byte[2048];
        byte* control = stackalloc byte[64];
        while (frames < priorities.Length * PerPhase && Environment.TickCount64 < deadline)
        {
            if (!UdpSocket.Poll(tap, Perf.Batch.Interop.POLLIN, 200))
            {
                continue;
            }

            Perf.Batch.Interop.IoVec iov;
            iov.Base = buf;
            iov.Length = 2048;
            Perf.Batch.Interop.MsgHdr msg = default;
            msg.Iov = &iov;
            msg.IovLen = 1;
            msg.Control = control;
            msg.ControlLen = 64;
            nint n = Sys.RecvMsg(tap, &msg, Perf.Batch.Interop.MSG_DONTWAIT);
            // Ethernet (14) + IPv4 with UDP to port 9: the payload's first four bytes are the priority it was sent with.
            if (n < 14 + 20 + 8 + 4 || buf[12] != 0x08 || buf[13] != 0x00 || buf[14 + 9] != 17)
            {
                continue;
            }

            int ihl = (buf[14] & 0xF) * 4;
            byte* udp = buf + 14 + ihl;
            if (((udp[2] << 8) | udp[3]) != 9)
            {
                continue;
            }

            uint sent = *(uint*)(udp + 8);
            int pcp = ReadPcp(control, msg.ControlLen);
            if (!seen.TryGetValue(sent, out List<int>? list))
            {
                seen[sent] = list = [];
            }

            list.Add(pcp);
            frames++;
        }

        foreach (uint p in priorities)
        {
            int expected = p <= 7 ? (int)p : 0;
            Assert.True(seen.TryGetValue(p, out List<int>? pcps), "no frame of priority 0x" + p.ToString("x", CultureInfo.InvariantCulture) + " reached the peer");
            Assert.True(pcps.Count == PerPhase && pcps.All(x => x == expected),
                "priority 0x" + p.ToString("x", CultureInfo.InvariantCulture) + ": PCPs " + string.Join(',', pcps) + ", expected " + PerPhase + " x " + expected);
        }
    }

    // PCP = tp_vlan_tci >> 13 from struct tpacket_auxdata {u32 status, len, snaplen; u16 mac, net, vlan_tci, vlan_tpid}; -1 untagged.
    private static unsafe int ReadPcp(byte* control, nuint controlLen)
    {
        nuint offset = 0;
        while (offset + (nuint)Perf.Batch.Interop.CMsgHdrSize <= controlLen)
        {
            var h = (Perf.Batch.Interop.CMsgHdr*)(control + offset);
            if (h->Len < (nuint)Perf.Batch.Interop.CMsgHdrSize)
            {
                break;
            }

            if (h->Level == SOL_PACKET && h->Type == PACKET_AUXDATA)
            {
                byte* aux = (byte*)h + Perf.Batch.Interop.CMsgHdrSize;
                uint status = *(uint*)aux;
                ushort tci = *(ushort*)(aux + 16);
                return (status & TP_STATUS_VLAN_VALID) != 0 ? tci >> 13 : -1;
            }

            offset += (nuint)Perf.Batch.Interop.CMsgAlign((int)h->Len);
        }

        return -1;
    }

    private static unsafe SafeFdHandle OpenTap(int ifindex)
    {
        int fd = Sys.Socket(AF_PACKET, SOCK_RAW | Perf.Batch.Interop.SOCK_NONBLOCK | Perf.Batch.Interop.SOCK_CLOEXEC, EthPAllBigEndian);
        Assert.True(fd >= 0, "socket(AF_PACKET) failed: " + Errno.Name(Marshal.GetLastPInvokeError()));
        var tap = new SafeFdHandle(fd);
        UdpSocket.SetInt(tap, SOL_PACKET, PACKET_AUXDATA, 1, "PACKET_AUXDATA");
        // struct sockaddr_ll: family, protocol (big-endian), ifindex, then hatype, pkttype, halen, addr[8]: 20 bytes.
        byte* sll = stackalloc byte[20];
        new Span<byte>(sll, 20).Clear();
        *(ushort*)sll = AF_PACKET;
        *(ushort*)(sll + 2) = EthPAllBigEndian;
        *(int*)(sll + 4) = ifindex;
        Assert.True(Sys.Bind(tap, sll, 20) == 0, "bind(AF_PACKET) failed: " + Errno.Name(Marshal.GetLastPInvokeError()));
        return tap;
    }
}
