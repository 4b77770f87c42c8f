using System.Net;
using Perf.Batch;

namespace Perf.Tests.Infrastructure;

/// <summary>
/// Two network namespaces joined by a veth pair: A (198.18.0.1, the sender's side, where a qdisc is installed) and
/// B (198.18.0.2, the receiver's side). 198.18.0.0/15 is the benchmarking range; both ends live in namespaces this
/// test created, so nothing leaves the machine. Crossing the veth resets skb->priority to 0, so classification is
/// read from the qdisc counters on A.
/// </summary>
internal sealed class VethPair : IDisposable
{
    internal static readonly IPAddress AddressA = IPAddress.Parse("198.18.0.1");
    internal static readonly IPAddress AddressB = IPAddress.Parse("198.18.0.2");

    private VethPair(NetNs a, NetNs b)
    {
        A = a;
        B = b;
    }

    internal NetNs A { get; }

    internal NetNs B { get; }

    internal const string DeviceA = "veth-a";

    internal const string DeviceB = "veth-b";

    /// <summary>
    /// Creates the pair. <paramref name="linkOptions"/> go to both ends (e.g. "numtxqueues 4"). <paramref name="quiet"/>
    /// turns IPv6 off before the links come up and sets a permanent neighbour entry, so no neighbour discovery, router
    /// solicitation or ARP packet ever passes A's qdisc: its counters then hold exactly what a test sent.
    /// </summary>
    internal static VethPair Create(string tag, string linkOptions = "", bool quiet = false)
    {
        NetNs a = NetNs.Create(tag + "a");
        NetNs? b = null;
        try
        {
            b = NetNs.Create(tag + "b");
            if (quiet)
            {
                foreach (NetNs ns in (NetNs[])[a, b])
                {
                    ns.Exec("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1");
                }
            }

            Perf.LoadGen.QdiscTest.QdiscTestRun.JoinWithVeth(a.Name, DeviceA, b.Name, DeviceB, linkOptions); // perfgen's qdisc lab builds its pair so
            if (quiet)
            {
                a.Exec("ip neigh replace 198.18.0.2 lladdr " + b.MacOf(DeviceB) + " dev " + DeviceA + " nud permanent");
            }

            return new VethPair(a, b);
        }
        catch
        {
            b?.Dispose();
            a.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A pair whose sending device has HTB with one class, 1:10, shaped to <paramref name="rate"/> (a tc rate) and taking
    /// all traffic: with a small SO_SNDBUF on the sender, the kernel then answers EAGAIN promptly.
    /// </summary>
    internal static VethPair CreateShaped(string tag, string rate)
    {
        VethPair net = Create(tag);
        try
        {
            net.A.Exec("tc qdisc add dev " + DeviceA + " root handle 1: htb default 10");
            net.A.Exec("tc class add dev " + DeviceA + " parent 1: classid 1:10 htb rate " + rate + " ceil " + rate);
            return net;
        }
        catch
        {
            net.Dispose();
            throw;
        }
    }

    /// <summary>Per-class (packets, bytes) sent by the qdisc on A's device, as tc prints them.</summary>
    internal Dictionary<string, (long Packets, long Bytes)> ClassCounters() => TcText.ClassCounters(A.Exec("tc -s class show dev " + DeviceA));

    internal PacketReceiver ReceiverInB() => B.Run(() => PacketReceiver.Create(new PacketReceiverOptions
    {
        LocalAddress = new DatagramAddress(AddressB, 0),
        BatchSize = 256,
        MaxDatagramSize = 2048,
        ReceiveBufferSize = 16 << 20,
    }));

    public void Dispose()
    {
        B.Dispose();
        A.Dispose();
    }
}
