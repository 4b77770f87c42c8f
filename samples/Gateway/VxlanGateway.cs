using Perf.Batch;
using Perf.Tunnel;

namespace Perf.Gateway;

/// <summary>
/// A userspace VXLAN tunnel endpoint (RFC 7348) on Perf: every frame read from the TAP leaves as a datagram to the peer
/// behind an 8-byte VXLAN header, with the priority its inner DSCP maps to and the inner DSCP and ECN as its own
/// (RFC 6040, normal mode), from an outer source port its inner flow hashes to; every datagram from the peer with the
/// right VNI is written to the TAP. TSO/USO super-packets are cut on the way out and TCP segments merged on the way in.
/// <see cref="GatewaySettings.Queues"/> workers run side by side, each on its own TAP queue and sockets.
/// </summary>
internal sealed class VxlanGateway : IDisposable
{
    // What the TAP may hand over: TSO (with ECN) and, from Linux 6.2, USO super-packets, and unfinished checksums.
    private const TunnelOffloads Offloads = TunnelOffloads.Checksum | TunnelOffloads.Tso4 | TunnelOffloads.Tso6 | TunnelOffloads.TsoEcn |
        TunnelOffloads.Uso4 | TunnelOffloads.Uso6;

    private readonly GatewayWorker[] _workers;

    private VxlanGateway(GatewayWorker[] workers) => _workers = workers;

    /// <summary>The counts of every worker, summed now.</summary>
    internal GatewayCounters Counters => GatewayCounters.Sum(_workers.Select(w => w.Counters));

    /// <summary>The first worker's first sender toward the peer: the strategy every sender resolved to.</summary>
    internal PacketSender Uplink => _workers[0].Uplinks[0];

    /// <summary>Every sender toward the peer, one per outer source port, over all workers.</summary>
    internal IEnumerable<PacketSender> Uplinks => _workers.SelectMany(w => w.Uplinks);

    /// <summary>The first queue of the TAP: its name, offloads and MTU are the device's.</summary>
    internal TapDevice Tap => _workers[0].Tap;

    internal int Queues => _workers.Length;

    /// <summary>The TAP refused a GSO write (some 6.6 LTS kernels): frames from the peer go one per write since.</summary>
    internal bool GsoWritesRefused => _workers.Any(w => w.GsoWritesRefused);

    /// <summary>Datagrams taken from the listening sockets.</summary>
    internal long Received => _workers.Sum(w => w.Received);

    /// <summary>Creates the TAP and its queues, binds the listening sockets and connects the senders, in the calling thread's namespace.</summary>
    /// <exception cref="PerfSocketException">A setup call failed (with its errno).</exception>
    /// <exception cref="ArgumentException">This kernel and host cannot give each datagram its own priority and traffic class.</exception>
    internal static VxlanGateway Create(GatewaySettings settings)
    {
        var workers = new List<GatewayWorker>();
        TapDevice? tap = null;
        try
        {
            int mtu = 0;
            for (int q = 0; q < settings.Queues; q++)
            {
                // The header is on either way (one read path); without offloads every frame is finished and GSO_NONE.
                tap = TapDevice.CreateTap(settings.Tap, new TapOptions
                {
                    VirtioNetHeader = true,
                    Offloads = settings.Offloads ? Offloads : TunnelOffloads.None,
                    MultiQueue = settings.Queues > 1,
                });
                if (q == 0)
                {
                    mtu = settings.Mtu ?? UnderlayMtu(settings.Peer) - GatewaySettings.Overhead(settings.Peer);
                    tap.Mtu = mtu;
                }

                workers.Add(GatewayWorker.Create(settings, tap, mtu, settings.SourcePortsOf(q)));
                tap = null; // the worker's now
            }

            return new VxlanGateway([.. workers]);
        }
        catch
        {
            tap?.Dispose();
            foreach (GatewayWorker w in workers)
            {
                w.Dispose();
            }

            throw;
        }
    }

    // The path MTU toward the peer as the route has it (IP_MTU on a connected socket: the route's mtu, else the device's).
    private static int UnderlayMtu(DatagramAddress peer)
    {
        using var probe = new System.Net.Sockets.Socket(peer.AddressFamily, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        probe.Connect(peer.ToEndPoint());
        bool v6 = peer.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        Span<byte> value = stackalloc byte[4];
        probe.GetRawSocketOption(v6 ? 41 : 0, v6 ? 24 : 14, value); // IPPROTO_IPV6/IPV6_MTU, IPPROTO_IP/IP_MTU
        return BitConverter.ToInt32(value);
    }

    /// <summary>Carries frames both ways on every queue until <paramref name="stop"/>; then sends what is queued and returns.</summary>
    internal Task RunAsync(CancellationToken stop) => Task.WhenAll(_workers.Select(w => w.RunAsync(stop)));

    public void Dispose()
    {
        foreach (GatewayWorker w in _workers)
        {
            w.Dispose();
        }
    }
}
