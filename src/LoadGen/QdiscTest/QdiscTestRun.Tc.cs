using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Perf.LoadGen.QdiscTest;

// tc's class statistics: read, parsed (iproute2 6.1 prints HTB classes as text only), and waited for.
internal static partial class QdiscTestRun
{
    /// <summary>Waits (at most 30 s) until the qdisc has sent or dropped what was sent, then returns its counters.</summary>
    private static Dictionary<string, ClassStats> WaitForCounters(string ns, long sent)
    {
        var deadline = Stopwatch.StartNew();
        Dictionary<string, ClassStats> counters;
        while (true)
        {
            // Drained: nothing queued in any class. The sum alone can reach `sent` early, as drops that sendmmsg did not
            // report (and the sender sent again) count on top of the datagrams.
            counters = ReadStats(ns);
            bool drained = counters.Values.All(c => c.BacklogPackets == 0) && counters.Values.Sum(c => c.Packets + c.Dropped) >= sent;
            if (drained || deadline.Elapsed > TimeSpan.FromSeconds(30))
            {
                return counters;
            }

            Thread.Sleep(100);
        }
    }

    /// <summary>The qdisc's class counters; for a qdisc without classes (etf), its own under "root".</summary>
    internal static Dictionary<string, ClassStats> ReadStats(string ns)
    {
        Dictionary<string, ClassStats> classes = ParseClassStats(Sh("tc -n " + ns + " -s class show dev " + Dev));
        if (classes.Count > 0)
        {
            return classes;
        }

        Dictionary<string, ClassStats> root = ParseClassStats(Sh("tc -n " + ns + " -s qdisc show dev " + Dev + " root"));
        return root.Count == 1 ? new Dictionary<string, ClassStats> { [RootCounters] = root.Values.First() } : classes;
    }

    private const string RootCounters = "root";

    /// <summary>Per-class (packets, bytes) from <c>tc -s class show</c>.</summary>
    internal static Dictionary<string, (long Packets, long Bytes)> ParseClassCounters(string tcOutput) =>
        ParseClassStats(tcOutput).ToDictionary(kv => kv.Key, kv => (kv.Value.Packets, kv.Value.Bytes));

    /// <summary>
    /// Per-class counters from <c>tc -s class show</c>. iproute2 6.1 prints HTB class statistics only as text ("class htb
    /// 1:10 …", then " Sent B bytes P pkt (dropped D, overlimits O requeues R)" and " backlog Xb Np …"), so -j is no use.
    /// </summary>
    internal static Dictionary<string, ClassStats> ParseClassStats(string tcOutput)
    {
        var result = new Dictionary<string, ClassStats>();
        string? current = null;
        foreach (string line in tcOutput.Split('\n'))
        {
            Match c = ClassLine().Match(line);
            if (c.Success)
            {
                current = c.Groups[1].Value;
                continue;
            }

            if (current is null)
            {
                continue;
            }

            Match s = SentLine().Match(line);
            if (s.Success)
            {
                result[current] = new ClassStats(long.Parse(s.Groups[2].Value, CultureInfo.InvariantCulture), long.Parse(s.Groups[1].Value, CultureInfo.InvariantCulture),
                    long.Parse(s.Groups[3].Value, CultureInfo.InvariantCulture), long.Parse(s.Groups[4].Value, CultureInfo.InvariantCulture), 0);
                continue;
            }

            Match b = BacklogLine().Match(line);
            if (b.Success && result.TryGetValue(current, out ClassStats stats))
            {
                result[current] = stats with { BacklogPackets = long.Parse(b.Groups[1].Value, CultureInfo.InvariantCulture) };
                current = null;
            }
        }

        return result;
    }

    /// <summary>
    /// Joins two namespaces with a veth: <paramref name="devA"/> in <paramref name="nsA"/> at 198.18.0.1/30,
    /// <paramref name="devB"/> in <paramref name="nsB"/> at 198.18.0.2/30, both up; <paramref name="linkOptions"/> go to
    /// both ends (e.g. "numtxqueues 4"). The qdisc lab's pair, and the tests' (tests/Infrastructure/VethPair.cs).
    /// </summary>
    internal static void JoinWithVeth(string nsA, string devA, string nsB, string devB, string linkOptions = "")
    {
        string opts = linkOptions.Length == 0 ? string.Empty : linkOptions + " ";
        Sh("ip -n " + nsA + " link add " + devA + " " + opts + "type veth peer name " + devB + " " + opts + "netns " + nsB);
        Sh("ip -n " + nsA + " addr add 198.18.0.1/30 dev " + devA);
        Sh("ip -n " + nsB + " addr add 198.18.0.2/30 dev " + devB);
        Sh("ip -n " + nsA + " link set " + devA + " up");
        Sh("ip -n " + nsB + " link set " + devB + " up");
        // A permanent neighbour: no ARP through the qdisc under test (etf drops a frame that carries no launch time).
        Match mac = MacLine().Match(Sh("ip -n " + nsB + " link show " + devB));
        Sh("ip -n " + nsA + " neigh replace 198.18.0.2 lladdr " + mac.Groups[1].Value + " dev " + devA + " nud permanent");
    }

    private static string Sh(string command)
    {
        int space = command.IndexOf(' ', StringComparison.Ordinal);
        (int code, string output) = HostCommand.Run(null, command[..space], command[(space + 1)..]);
        return code == 0 ? output : throw new InvalidOperationException("'" + command + "' failed (" + code + "): " + output.Trim());
    }

    [GeneratedRegex(@"^(?:class|qdisc) \S+ (\S+) ")]
    private static partial Regex ClassLine();

    [GeneratedRegex(@"^\s*Sent (\d+) bytes (\d+) pkt \(dropped (\d+), overlimits (\d+)")]
    private static partial Regex SentLine();

    [GeneratedRegex(@"link/ether (\S+)")]
    private static partial Regex MacLine();

    [GeneratedRegex(@"^\s*backlog \S+ (\d+)p")]
    private static partial Regex BacklogLine();

    [LibraryImport("libc")]
    private static partial uint geteuid();
}
