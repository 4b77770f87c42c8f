using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

using Perf.Host;

namespace Perf.LoadGen.QdiscTest;

// The qdisc's class statistics, read over rtnetlink and waited for; the lab's veth pair.
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

    /// <summary>
    /// The qdisc's class counters, read over rtnetlink (Perf.Host's <see cref="QdiscStatistics"/>); for a qdisc without
    /// classes (etf), its own under "root".
    /// </summary>
    internal static Dictionary<string, ClassStats> ReadStats(string ns)
    {
        IReadOnlyDictionary<TcHandle, TcStatistics> counting = QdiscStatistics.ReadClasses(Dev, ns);
        return counting.Count == 1 && counting.Values.Single() is { IsClass: false } root
            ? new Dictionary<string, ClassStats> { [RootCounters] = Of(root) }
            : counting.ToDictionary(kv => kv.Key.ToString(), kv => Of(kv.Value));
    }

    private static ClassStats Of(TcStatistics t) => new(t.Packets, t.Bytes, t.Drops, t.Overlimits, t.QueueLength);

    private const string RootCounters = "root";

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

    [GeneratedRegex(@"link/ether (\S+)")]
    private static partial Regex MacLine();

    [LibraryImport("libc")]
    private static partial uint geteuid();
}
