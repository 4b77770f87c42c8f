using System.Net;
using System.Globalization;
using System.Text.RegularExpressions;
using Perf.Batch;

namespace Perf.Tests.Infrastructure;

/// <summary>
/// Two network namespaces joined by a veth pair: A (198.18.0.1, the sender's side, where a qdisc is installed) and
/// B (198.18.0.2, the receiver's side). 198.18.0.0/15 is the benchmarking range; both ends live in namespaces this
/// test created, so nothing leaves the machine. Crossing the veth resets skb->priority to 0, so classification is
/// read from the qdisc counters on A.
/// </summary>
internal sealed partial class VethPair : IDisposable
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

    internal static VethPair Create(string tag)
    {
        NetNs a = NetNs.Create(tag + "a");
        NetNs? b = null;
        try
        {
            b = NetNs.Create(tag + "b");
            a.Exec("ip link add " + DeviceA + " type veth peer name veth-b netns " + b.Name);
            a.Exec("ip addr add 198.18.0.1/30 dev " + DeviceA);
            b.Exec("ip addr add 198.18.0.2/30 dev veth-b");
            a.Exec("ip link set " + DeviceA + " up");
            b.Exec("ip link set veth-b up");
            return new VethPair(a, b);
        }
        catch
        {
            b?.Dispose();
            a.Dispose();
            throw;
        }
    }

    /// <summary>Per-class (packets, bytes) sent by the qdisc on A's device, from <c>tc -s class show</c>.</summary>
    /// <remarks>iproute2 6.1 prints HTB classes only as text ("class htb 1:10 ...", then " Sent B bytes P pkt ..."), so -j is not used.</remarks>
    internal Dictionary<string, (long Packets, long Bytes)> ClassCounters()
    {
        var result = new Dictionary<string, (long, long)>();
        string? current = null;
        foreach (string line in A.Exec("tc -s class show dev " + DeviceA).Split('\n'))
        {
            Match c = ClassLine().Match(line);
            if (c.Success)
            {
                current = c.Groups[1].Value;
                continue;
            }

            Match sent = SentLine().Match(line);
            if (sent.Success && current is not null)
            {
                result[current] = (long.Parse(sent.Groups[2].Value, CultureInfo.InvariantCulture), long.Parse(sent.Groups[1].Value, CultureInfo.InvariantCulture));
                current = null;
            }
        }

        return result;
    }

    [GeneratedRegex(@"^class \S+ (\S+) ")]
    private static partial Regex ClassLine();

    [GeneratedRegex(@"^\s*Sent (\d+) bytes (\d+) pkt")]
    private static partial Regex SentLine();

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
