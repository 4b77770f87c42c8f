using System.Globalization;
using Perf.Batch;

namespace Perf.Gateway;

/// <summary>What one perf-gateway runs with, checked before anything is opened.</summary>
/// <param name="Tap">The TAP device to create.</param>
/// <param name="Listen">Where the peer's VXLAN datagrams arrive (the address outgoing ones leave from, on another port).</param>
/// <param name="Peer">Where outgoing VXLAN datagrams go.</param>
/// <param name="Vni">The VXLAN network identifier, 0 to 2^24 - 1.</param>
/// <param name="Priorities">Each inner DSCP's priority.</param>
/// <param name="JsonPath">Where the report goes on exit, if anywhere.</param>
/// <param name="Mtu">The TAP's MTU; null: the underlay's path MTU to the peer less the VXLAN overhead.</param>
/// <param name="Offloads">Whether the TAP hands over TSO/USO super-packets (cut here) and unfinished checksums.</param>
/// <param name="Queues">Workers, each with its own TAP queue (IFF_MULTI_QUEUE), listening socket (SO_REUSEPORT) and senders.</param>
/// <param name="FirstSourcePort">The first outer source port; 0: ephemeral ports, one per sender.</param>
/// <param name="SourcePortCount">How many outer source ports the inner flows are spread over (RFC 7348 5).</param>
internal sealed record GatewaySettings(string Tap, DatagramAddress Listen, DatagramAddress Peer, uint Vni, DscpPriorities Priorities, string? JsonPath,
    int? Mtu = null, bool Offloads = true, int Queues = 1, int FirstSourcePort = 0, int SourcePortCount = GatewaySettings.DefaultSourcePorts)
{
    /// <summary>Outer source ports without --source-ports: a few, so the peer's RSS and ECMP paths see several flows.</summary>
    internal const int DefaultSourcePorts = 8;

    /// <summary>The source ports of worker <paramref name="queue"/>: every <see cref="Queues"/>-th of the range from its index (0s: ephemeral).</summary>
    internal int[] SourcePortsOf(int queue)
    {
        var ports = new List<int>();
        for (int i = queue; i < SourcePortCount; i += Queues)
        {
            ports.Add(FirstSourcePort == 0 ? 0 : FirstSourcePort + i);
        }

        return ports.Count > 0 ? [.. ports] : [0];
    }

    /// <summary>A super-packet's largest read: the virtio-net header, a 64 KB IP packet, Ethernet and one VLAN tag.</summary>
    internal const int MaxRead = 10 + 65535 + 18;

    /// <summary>What VXLAN adds to an inner frame on the underlay: outer IP, UDP and the VXLAN header (RFC 7348 4).</summary>
    internal static int Overhead(DatagramAddress peer) => (peer.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 40 : 20) + 8 + 8 + 14;

    /// <summary>Largest frame the gateway carries: a 9000-byte MTU, its Ethernet header and one VLAN tag, with room to spare.</summary>
    internal const int MaxFrame = 9216;
}

/// <summary>
/// The priority each inner DSCP (0-63) gets, from "DSCP=PRIORITY,…" (priorities decimal or 0x hex, as perfgen takes
/// them; "default=N" for DSCPs not named, else 0). A frame without IP takes DSCP 0's.
/// </summary>
internal sealed class DscpPriorities
{
    private readonly uint[] _byDscp = new uint[64];

    private DscpPriorities(PriorityMap map)
    {
        for (uint d = 0; d < 64; d++)
        {
            _byDscp[d] = map.Map(d);
        }

        Distinct = [.. _byDscp.Distinct().Order()];
    }

    /// <summary>The priorities in use, ascending: what the report counts by.</summary>
    internal uint[] Distinct { get; }

    /// <summary>Parses the map; throws <see cref="FormatException"/> with the bad entry or a DSCP over 63.</summary>
    internal static DscpPriorities Parse(string? text)
    {
        text ??= string.Empty;
        PriorityMap map = PriorityMap.Parse(text.Contains("default", StringComparison.Ordinal) ? text : text + ",default=0");
        foreach (string item in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            string key = item.Split('=')[0];
            if (key != "default" && (!uint.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out uint dscp) || dscp > 63))
            {
                throw new FormatException("bad --dscp-map entry '" + item + "': a DSCP is 0 to 63, in decimal");
            }
        }

        return new DscpPriorities(map);
    }

    internal uint Of(byte dscp) => _byDscp[dscp & 63];
}
