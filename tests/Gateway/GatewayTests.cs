extern alias gateway;

using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Perf.Batch;
using gateway::Perf.Gateway;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Gateway;

/// <summary>perf-gateway against real peers: the kernel's own VXLAN for TCP, a receiver for what goes on the wire.</summary>
[Trait(Lab.Trait, Lab.EveryKernel)]
[Collection("Network")]
public sealed class GatewayTests
{
    /// <summary>
    /// A TCP transfer each way between the gateway's side (A) and the kernel's VXLAN (B). Outward the TAP hands over TSO
    /// super-packets, which the gateway cuts (a wrong length, sequence number or checksum would stall or corrupt the
    /// stream); inward the peer's segments are merged into super-packets. Two queues: <see cref="GatewayQueueTests"/>.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public Task ATcpTransferThroughTheTunnelToTheKernelsVxlanArrivesIntact(bool fromGatewaySide) =>
        TcpThroughTunnel.TransferAsync("gwtcp", fromGatewaySide, queues: 1);

    /// <summary>
    /// Inner UDP from the kernel's VXLAN through the gateway: every datagram arrives whole and in order at a socket behind
    /// the TAP. Where the TAP has USO (Linux 6.2+) a flow's datagrams are merged into UDP super-packets the kernel cuts
    /// again; before, each is written alone.
    /// </summary>
    [Fact]
    public void InnerUdpFromThePeerArrivesWholeMergedWhereTheTapHasUso()
    {
        using TunnelLab lab = TunnelLab.Create("gwudp", "", TunnelLab.KernelVxlanInB);
        using Socket inner = lab.Net.A.Run(() =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveBufferSize = 8 << 20 };
            s.Bind(new IPEndPoint(IPAddress.Parse("10.42.0.1"), 9100));
            return s;
        });
        lab.Net.B.Exec("ip neigh replace 10.42.0.1 lladdr " + lab.Net.A.MacOf(TunnelLab.Tap) + " dev vx0 nud permanent"); // no burst held for ARP
        lab.Start();
        using Socket sender = lab.Net.B.Run(() => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        sender.Connect(new IPEndPoint(IPAddress.Parse("10.42.0.1"), 9100));
        const int Count = 3000, Burst = 200; // bursts: each fits the socket buffers, and a flow's datagrams queue up to be merged
        byte[] payload = new byte[1000];
        byte[] got = new byte[2000];
        inner.ReceiveTimeout = 10_000;
        for (int first = 0; first < Count; first += Burst)
        {
            for (int i = first; i < first + Burst; i++)
            {
                BinaryPrimitives.WriteInt32BigEndian(payload, i);
                payload.AsSpan(4).Fill((byte)i);
                sender.Send(payload);
            }

            for (int i = first; i < first + Burst; i++)
            {
                int n = inner.Receive(got);
                Assert.Equal(payload.Length, n);
                Assert.Equal(i, BinaryPrimitives.ReadInt32BigEndian(got));
                Assert.True(got.AsSpan(4, n - 4).IndexOfAnyExcept((byte)i) < 0, "datagram " + i + " arrived changed");
            }
        }

        lab.Stop();
        bool uso = lab.Gateway.Tap.Offloads.HasFlag(Perf.Tunnel.TunnelOffloads.Uso4);
        Assert.Equal(Environment.OSVersion.Version >= new Version(6, 2), uso);
        Assert.True(uso == lab.Gateway.Counters.InSuperFrames > 0, "USO " + uso + ", super-packets written " + lab.Gateway.Counters.InSuperFrames);
    }

    [Fact]
    public void EachDscpLandsInTheHtbClassItsPriorityNamesAndTheOuterDscpAndEcnAreTheInner()
    {
        using TunnelLab lab = TunnelLab.Create("gwdscp", "46=0x10010,10=0x10020,default=0x10030", net =>
        {
            net.A.Exec("tc qdisc add dev " + VethPair.DeviceA + " root handle 1: htb");
            foreach (string c in (string[])["1:10", "1:20", "1:30"])
            {
                net.A.Exec("tc class add dev " + VethPair.DeviceA + " parent 1: classid " + c + " htb rate 1gbit");
            }
        });
        using PacketReceiver peer = lab.Net.B.Run(() => PacketReceiver.Create(new PacketReceiverOptions
        {
            LocalAddress = TunnelLab.Peer,
            ReceiveTrafficClass = true,
            ReceivePriority = false,
            BatchSize = 64,
        }));
        lab.Net.A.Exec("ip neigh replace 10.42.0.2 lladdr 02:00:00:00:00:02 dev " + TunnelLab.Tap + " nud permanent"); // no ARP through the tunnel
        lab.Start();
        Dictionary<string, (long Packets, long Bytes)> before = lab.Net.ClassCounters();

        // rt_tos2priority of each TOS names none of the classes: only the cmsg priority puts them where they belong.
        (byte Tos, string Class)[] phases = [(0xb8, "1:10"), (0x29, "1:20"), (0x10, "1:30"), (0x02, "1:30")];
        const int PerPhase = 50;
        foreach ((byte tos, string _) in phases)
        {
            using Socket inner = lab.Net.A.Run(() => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
            inner.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.TypeOfService, (int)tos);
            for (int i = 0; i < PerPhase; i++)
            {
                inner.SendTo(new byte[100], new IPEndPoint(IPAddress.Parse("10.42.0.2"), 9));
            }
        }

        int total = phases.Length * PerPhase, got = 0;
        long deadline = Environment.TickCount64 + 10_000;
        while (got < total && Environment.TickCount64 < deadline)
        {
            int n = peer.Receive(200);
            for (int k = 0; k < n; k++, got++)
            {
                ReceivedDatagram d = peer[k];
                Assert.Equal(TunnelLab.Vni, BinaryPrimitives.ReadUInt32BigEndian(d.Payload[4..]) >> 8);
                byte innerTos = d.Payload[8 + 14 + 1]; // VXLAN, Ethernet, then the IPv4 TOS byte
                Assert.Contains(phases, p => p.Tos == innerTos);
                Assert.Equal(innerTos, d.TrafficClass); // RFC 6040 normal mode: DSCP and ECN copied outward
            }
        }

        Assert.Equal(total, got);
        Dictionary<string, (long Packets, long Bytes)> after = lab.Net.ClassCounters();
        foreach (string c in (string[])["1:10", "1:20", "1:30"])
        {
            long delta = after.GetValueOrDefault(c).Packets - before.GetValueOrDefault(c).Packets;
            Assert.True(delta == phases.Count(p => p.Class == c) * PerPhase, "class " + c + " counted " + delta + " (" + string.Join(", ", after) + ")");
        }
    }

    [Fact]
    public void BadDatagramsAndADownTapAreCountedDropsNeverACrash()
    {
        using TunnelLab lab = TunnelLab.Create("gwbad", "", tapUp: false);
        lab.Start();
        using Socket peer = lab.Net.B.Run(() => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        IPEndPoint gateway = TunnelLab.Listen.ToEndPoint();
        byte[] frame = new byte[8 + 60];
        Vxlan.WriteHeader(frame, TunnelLab.Vni);
        peer.SendTo(frame.AsSpan(0, 5), gateway);                    // short
        byte[] wrongVni = (byte[])frame.Clone();
        Vxlan.WriteHeader(wrongVni, 7);
        peer.SendTo(wrongVni, gateway);                              // another tunnel's
        byte[] noFlag = (byte[])frame.Clone();
        noFlag[0] = 0;
        peer.SendTo(noFlag, gateway);                                // no I flag
        peer.SendTo(frame, gateway);                                 // good, but the TAP is down: EIO

        long deadline = Environment.TickCount64 + 10_000;
        GatewayCounters c = lab.Gateway.Counters; // a sum over the workers, read again each time
        while (c.Dropped(InboundDrop.TapDown) + c.Dropped(InboundDrop.Short) + c.Dropped(InboundDrop.WrongVni) + c.Dropped(InboundDrop.Malformed) < 4
            && Environment.TickCount64 < deadline)
        {
            Thread.Sleep(20);
            c = lab.Gateway.Counters;
        }

        Assert.Equal(1, c.Dropped(InboundDrop.Short));
        Assert.Equal(1, c.Dropped(InboundDrop.WrongVni));
        Assert.Equal(1, c.Dropped(InboundDrop.Malformed));
        Assert.Equal(1, c.Dropped(InboundDrop.TapDown));
        Assert.Equal(0, c.InFrames);
        lab.Stop();
    }

    [Fact]
    public void AValidDatagramFromAnyoneButThePeerIsACountedDropNeverAFrame()
    {
        using TunnelLab lab = TunnelLab.Create("gwforeign", "");
        lab.Net.B.Exec("ip addr add 198.18.0.6/30 dev " + VethPair.DeviceB);
        lab.Net.A.Exec("ip route add 198.18.0.4/30 dev " + VethPair.DeviceA);
        lab.Start();
        IPEndPoint gateway = TunnelLab.Listen.ToEndPoint();
        byte[] frame = new byte[8 + 60];
        Vxlan.WriteHeader(frame, TunnelLab.Vni);
        frame.AsSpan(8, 6).Fill(0xff); // a broadcast Ethernet frame the TAP would take
        using Socket stranger = lab.Net.B.Run(() =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Bind(new IPEndPoint(IPAddress.Parse("198.18.0.6"), 0));
            return s;
        });
        using Socket peer = lab.Net.B.Run(() =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Bind(new IPEndPoint(TunnelLab.Peer.ToIPAddress(), 0)); // the peer, from any port
            return s;
        });
        for (int i = 0; i < 3; i++)
        {
            stranger.SendTo(frame, gateway);
        }

        peer.SendTo(frame, gateway);
        long deadline = Environment.TickCount64 + 10_000;
        GatewayCounters c = lab.Gateway.Counters; // a sum over the workers, read again each time
        while (c.Dropped(InboundDrop.ForeignSource) + c.InFrames < 4 && Environment.TickCount64 < deadline)
        {
            Thread.Sleep(20);
            c = lab.Gateway.Counters;
        }

        Assert.Equal(3, c.Dropped(InboundDrop.ForeignSource));
        Assert.Equal(1, c.InFrames); // the peer's, from a port of its choosing
        lab.Stop();
    }

    [Theory]
    [InlineData(3, 2, 3)]   // outer CE over inner ECT(0): inner CE
    [InlineData(3, 1, 3)]   // outer CE over inner ECT(1): inner CE
    [InlineData(1, 2, 1)]   // outer ECT(1) over inner ECT(0): inner ECT(1)
    [InlineData(2, 1, 1)]   // outer ECT(0): the inner stays as it was
    [InlineData(3, 0, -1)]  // outer CE over a Not-ECT inner: dropped, counted
    public void TheOuterEcnReachesTheInnerPacketAsRfc6040Says(int outer, int inner, int expected)
    {
        using TunnelLab lab = TunnelLab.Create("gwecn", "");
        using PacketReceiver inside = lab.Net.A.Run(() => PacketReceiver.Create(new PacketReceiverOptions
        {
            LocalAddress = new DatagramAddress(IPAddress.Parse("10.42.0.1"), 7000),
            ReceiveTrafficClass = true,
        }));
        lab.Start();
        using Socket peer = lab.Net.B.Run(() =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.TypeOfService, outer); // the outer ECN field
            return s;
        });
        peer.SendTo(InnerUdpFrame(lab.Net.A.MacOf(TunnelLab.Tap), (byte)((46 << 2) | inner)), TunnelLab.Listen.ToEndPoint());

        int n = inside.Receive(expected < 0 ? 500 : 5000);
        if (expected < 0)
        {
            Assert.Equal(0, n);
            long deadline = Environment.TickCount64 + 5000;
            while (lab.Gateway.Counters.Dropped(InboundDrop.EcnNotEct) == 0 && Environment.TickCount64 < deadline)
            {
                Thread.Sleep(20);
            }

            Assert.Equal(1, lab.Gateway.Counters.Dropped(InboundDrop.EcnNotEct));
        }
        else
        {
            Assert.Equal(1, n); // the kernel took the inner packet: its IPv4 checksum holds after the change
            Assert.Equal((byte)((46 << 2) | expected), inside[0].TrafficClass); // DSCP kept, ECN as RFC 6040 says
        }

        lab.Stop();
    }

    // VXLAN, then Ethernet to the TAP's MAC, IPv4 10.42.0.2 -> 10.42.0.1 with the traffic class given, UDP to port 7000.
    private static byte[] InnerUdpFrame(string tapMac, byte trafficClass)
    {
        byte[] d = new byte[8 + 14 + 20 + 8 + 32];
        Vxlan.WriteHeader(d, TunnelLab.Vni);
        Span<byte> eth = d.AsSpan(8);
        Convert.FromHexString(tapMac.Replace(":", "", StringComparison.Ordinal)).CopyTo(eth);
        eth[6] = 0x02;
        eth[11] = 0x09;
        BinaryPrimitives.WriteUInt16BigEndian(eth[12..], 0x0800);
        Span<byte> ip = eth[14..];
        ip[0] = 0x45;
        ip[1] = trafficClass;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], 20 + 8 + 32);
        ip[8] = 64;
        ip[9] = 17;
        IPAddress.Parse("10.42.0.2").TryWriteBytes(ip[12..], out _);
        IPAddress.Parse("10.42.0.1").TryWriteBytes(ip[16..], out _);
        uint sum = 0;
        for (int k = 0; k < 20; k += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(ip[k..]);
        }

        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], (ushort)~sum);
        Span<byte> udp = ip[20..];
        BinaryPrimitives.WriteUInt16BigEndian(udp, 5555);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], 7000);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], 8 + 32); // checksum 0: none, which IPv4 allows
        return d;
    }

    [Fact]
    public void TheTapsMtuIsTheUnderlaysLessTheVxlanOverhead()
    {
        using TunnelLab lab = TunnelLab.Create("gwmtu", "", tapUp: false);
        Assert.Contains(" mtu 1450 ", lab.Net.A.Exec("ip link show " + TunnelLab.Tap), StringComparison.Ordinal); // veth 1500 - 50
        Assert.Equal(1450, lab.Net.A.Run(() => lab.Gateway.Tap.Mtu));
    }
}
