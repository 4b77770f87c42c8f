using System.Globalization;
using System.Text.RegularExpressions;
using Perf.LoadGen.QdiscTest;

namespace Perf.Tests.Infrastructure;

/// <summary>
/// tc's own numbers, read from its text: the independent reference the tests check classification and the library's
/// rtnetlink statistics against (iproute2 6.1 prints HTB class statistics only as text, so -j is no use).
/// </summary>
internal static partial class TcText
{
    /// <summary>Per-class counters from <c>tc -s class show</c>, or per-qdisc from <c>tc -s qdisc show</c> (the same lines; by handle) ("class htb 1:10 …", " Sent B bytes P pkt (dropped D, overlimits O …)", " backlog Xb Np …").</summary>
    internal static Dictionary<string, ClassStats> Parse(string tcOutput)
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


    /// <summary>Per-class (packets, bytes) from <c>tc -s class show</c>.</summary>
    internal static Dictionary<string, (long Packets, long Bytes)> ClassCounters(string tcOutput) =>
        Parse(tcOutput).ToDictionary(kv => kv.Key, kv => (kv.Value.Packets, kv.Value.Bytes));

    [GeneratedRegex(@"^(?:class|qdisc) \S+ (\S+) ")]
    private static partial Regex ClassLine();

    [GeneratedRegex(@"^\s*Sent (\d+) bytes (\d+) pkt \(dropped (\d+), overlimits (\d+)")]
    private static partial Regex SentLine();

    [GeneratedRegex(@"^\s*backlog \S+ (\d+)p")]
    private static partial Regex BacklogLine();
}
