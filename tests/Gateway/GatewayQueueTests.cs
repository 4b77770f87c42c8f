extern alias gateway;

using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Perf.Batch;
using gateway::Perf.Gateway;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Gateway;

/// <summary>
/// Several queues and source ports: what does not change between kernels, so the lab runs it on 6.1 only (the
/// multi-queue TAP and SO_REUSEPORT are older than every kernel the lab boots).
/// </summary>
[Collection("Network")]
public sealed class GatewayQueueTests
{
    /// <summary>Two workers, each on its own TAP queue and listening socket: a TCP transfer each way arrives intact.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public Task ATcpTransferThroughTwoQueuesArrivesIntact(bool fromGatewaySide) =>
        TcpThroughTunnel.TransferAsync("gwq2", fromGatewaySide, queues: 2);

    /// <summary>
    /// RFC 7348 5: the outer source port comes from a hash of the inner flow. 32 inner UDP flows leave from ports of the
    /// range asked for, each flow always from the same one, and spread over several.
    /// </summary>
    [Fact]
    public void EachInnerFlowLeavesFromOneSourcePortOfTheRangeAndTheFlowsSpreadOverSeveral()
    {
        using TunnelLab lab = TunnelLab.Create("gwports", "", firstSourcePort: 41000, sourcePorts: 8);
        using PacketReceiver peer = lab.Net.B.Run(() => PacketReceiver.Create(new PacketReceiverOptions { LocalAddress = TunnelLab.Peer, ReceivePriority = false }));
        lab.Net.A.Exec("ip neigh replace 10.42.0.2 lladdr 02:00:00:00:00:02 dev " + TunnelLab.Tap + " nud permanent"); // no ARP through the tunnel
        lab.Start();
        const int Flows = 32, PerFlow = 5;
        using Socket inner = lab.Net.A.Run(() => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        for (int i = 0; i < PerFlow; i++)
        {
            for (int f = 0; f < Flows; f++)
            {
                inner.SendTo(new byte[64], new IPEndPoint(IPAddress.Parse("10.42.0.2"), 9000 + f));
            }
        }

        var portOfFlow = new Dictionary<int, HashSet<int>>();
        int got = 0;
        long deadline = Environment.TickCount64 + 10_000;
        while (got < Flows * PerFlow && Environment.TickCount64 < deadline)
        {
            int n = peer.Receive(200);
            for (int k = 0; k < n; k++, got++)
            {
                ReadOnlySpan<byte> frame = peer[k].Payload[Vxlan.HeaderSize..];
                int innerPort = BinaryPrimitives.ReadUInt16BigEndian(frame[(14 + 20 + 2)..]); // Ethernet, IPv4, then the UDP destination port
                Assert.InRange(peer[k].Source.Port, 41000, 41007);
                if (!portOfFlow.TryGetValue(innerPort, out HashSet<int>? ports))
                {
                    portOfFlow[innerPort] = ports = [];
                }

                ports.Add(peer[k].Source.Port);
            }
        }

        lab.Stop();
        Assert.Equal(Flows * PerFlow, got);
        Assert.Equal(Flows, portOfFlow.Count);
        Assert.All(portOfFlow.Values, ports => Assert.Single(ports));
        int distinct = portOfFlow.Values.Select(p => p.Single()).Distinct().Count();
        Assert.True(distinct >= 4, Flows + " inner flows left from only " + distinct + " of 8 source ports");
    }
}
