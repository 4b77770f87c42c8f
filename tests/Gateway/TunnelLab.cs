extern alias gateway;

using System.Globalization;
using Perf.Batch;
using gateway::Perf.Gateway;
using Perf.Host;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Gateway;

/// <summary>
/// A gateway in namespace A with its TAP <see cref="Tap"/> (10.42.0.1/24, MTU 1400), its uplink the veth to B, and the
/// tunnel's far end in B: the kernel's own VXLAN (vx0, 10.42.0.2) or a test's receiver on 198.18.0.2:4789.
/// </summary>
internal sealed class TunnelLab : IDisposable
{
    internal const string Tap = "gw0";
    internal const uint Vni = 42;
    internal static readonly DatagramAddress Listen = DatagramAddress.Parse("198.18.0.1:4789");
    internal static readonly DatagramAddress Peer = DatagramAddress.Parse("198.18.0.2:4789");

    private readonly CancellationTokenSource _stop = new();
    private Task? _running;

    private TunnelLab(VethPair net, VxlanGateway gateway)
    {
        Net = net;
        Gateway = gateway;
    }

    internal VethPair Net { get; }

    internal VxlanGateway Gateway { get; }

    /// <summary>
    /// Builds the pair, runs <paramref name="setup"/> (qdiscs on the uplink, the peer's VXLAN), and creates the gateway in
    /// A. Before Linux 6.14 the uplink gets the mark_to_priority classifier, so Auto takes MarkAndBpf.
    /// </summary>
    internal static TunnelLab Create(string tag, string dscpMap, Action<VethPair>? setup = null, bool tapUp = true, int queues = 1, int firstSourcePort = 0, int sourcePorts = 8)
    {
        string? why = NetNs.Unavailable();
        Assert.SkipWhen(why is not null, why ?? string.Empty);
        HostTools.EnsureTunOrSkip();
        VethPair net = VethPair.Create(tag, quiet: true);
        try
        {
            setup?.Invoke(net);
            using (PacketSender probe = PacketSender.Create(new PacketSenderOptions()))
            {
                if (!probe.Capabilities.PerPacketPriority)
                {
                    MarkClassifier.Attach(VethPair.DeviceA, net.A.Name);
                }
            }

            var settings = new GatewaySettings(Tap, Listen, Peer, Vni, DscpPriorities.Parse(dscpMap), JsonPath: null,
                Queues: queues, FirstSourcePort: firstSourcePort, SourcePortCount: sourcePorts);
            VxlanGateway gateway = net.A.Run(() => VxlanGateway.Create(settings));
            var lab = new TunnelLab(net, gateway);
            if (tapUp)
            {
                net.A.Exec("ip link set " + Tap + " mtu 1400");
                net.A.Exec("ip addr add 10.42.0.1/24 dev " + Tap);
                net.A.Exec("ip link set " + Tap + " up");
            }

            return lab;
        }
        catch
        {
            net.Dispose();
            throw;
        }
    }

    /// <summary>The kernel's VXLAN in B: vx0, VNI 42, 10.42.0.2/24, MTU 1400, tx checksumming off (see the README).</summary>
    internal static void KernelVxlanInB(VethPair net)
    {
        Assert.SkipUnless(HostTools.HasTool("ethtool"), "ethtool (Debian package ethtool) turns off vx0's tx checksum offload, which a veth never fills");
        net.B.Exec("ip link add vx0 type vxlan id " + Vni.ToString(CultureInfo.InvariantCulture) + " local 198.18.0.2 remote 198.18.0.1 dstport 4789");
        net.B.Exec("ip link set vx0 mtu 1400");
        net.B.Exec("ip addr add 10.42.0.2/24 dev vx0");
        net.B.Exec("ip link set vx0 up");
        net.B.Exec("ethtool -K vx0 tx off");
    }

    internal void Start() => _running = Gateway.RunAsync(_stop.Token);

    /// <summary>Stops the gateway as SIGTERM does, and waits for it to drain.</summary>
    internal void Stop()
    {
        _stop.Cancel();
        Assert.True(_running is null || _running.Wait(TimeSpan.FromSeconds(10)), "the gateway did not drain within 10 s");
    }

    public void Dispose()
    {
        _stop.Cancel();
        _running?.Wait(TimeSpan.FromSeconds(10));
        Gateway.Dispose();
        Net.Dispose();
        _stop.Dispose();
    }
}
