using Perf.Host;

namespace Perf.LoadGen.Send;

/// <summary>
/// What each watched class did over a run, and how much of it was perfgen's: its delta (packets, bytes, drops,
/// overlimits, the largest backlog seen), the datagrams perfgen sent to it (by <c>--expect</c>, or as the probe before
/// the run found), and the rest, which is other traffic on the device.
/// </summary>
internal sealed record ClassDelta(string Device, TcHandle Class, string Kind, long Packets, long Bytes, long Drops, long Overlimits, long MaxBacklog,
    long Expected, string? ExpectedFrom, bool Short)
{
    /// <summary>What the class counted beyond perfgen's datagrams: other traffic (never below 0).</summary>
    internal long Other => Math.Max(0, Packets + Drops - Expected);
}

/// <summary>The classes' deltas and the verdict on <c>--expect</c>.</summary>
internal static class WatchVerdict
{
    // A GSO packet a qdisc drops counts once among the drops while its segments count as packets when sent: a class that
    // dropped may hold up to this many of perfgen's datagrams per drop (UDP GSO's most segments).
    internal const int MaxSegments = 128;

    internal static List<ClassDelta> Deltas(DeviceWatch watch, SendTotals totals)
    {
        var sent = new Dictionary<uint, long>();
        foreach ((uint p, long packets, _) in totals.PerPriority)
        {
            sent[p] = packets;
        }

        return Deltas(watch, sent);
    }

    /// <summary>Each watched class's delta over the run; perfgen's share from <paramref name="sent"/> (empty: a watch alone).</summary>
    internal static List<ClassDelta> Deltas(DeviceWatch watch, Dictionary<uint, long> sent)
    {
        var rows = new List<ClassDelta>();
        foreach ((string device, Dictionary<TcHandle, TcStatistics> end) in watch.End)
        {
            Dictionary<TcHandle, TcStatistics> start = watch.Start[device];
            foreach ((TcHandle c, TcStatistics e) in end.OrderBy(kv => kv.Key.Value))
            {
                TcStatistics? s = start.GetValueOrDefault(c);
                (long expected, string? from) = ExpectedIn(watch, device, c, sent);
                long packets = e.Packets - (s?.Packets ?? 0), drops = e.Drops - (s?.Drops ?? 0);
                long backlog = watch.Samples.Select(x => x.Devices[device].GetValueOrDefault(c)?.QueueLength ?? 0).DefaultIfEmpty(0).Max();
                bool shortOf = expected > 0 && packets + (drops * MaxSegments) < expected;
                rows.Add(new ClassDelta(device, c, e.Kind, packets, e.Bytes - (s?.Bytes ?? 0), drops, e.Overlimits - (s?.Overlimits ?? 0), backlog, expected, from, shortOf));
            }
        }

        return rows;
    }

    /// <summary>Where a priority's probe landed elsewhere than --expect says, or a class counted fewer than was sent to it.</summary>
    internal static List<string> Problems(DeviceWatch watch, List<ClassDelta> rows)
    {
        var problems = new List<string>();
        foreach ((uint p, TcHandle want) in watch.Settings.Expect)
        {
            (string Device, TcHandle Class)? got = watch.Classified.GetValueOrDefault(p);
            if (got?.Class != want)
            {
                problems.Add("priority " + Report.FormatPriority(p) + " landed in " + (got is { } g ? g.Device + " class " + g.Class : "no watched class") + "; --expect says " + want);
            }
        }

        foreach (ClassDelta r in rows.Where(r => r.Short))
        {
            problems.Add(r.Device + " class " + r.Class + " counted " + (r.Packets + r.Drops) + " packets and drops of the " + r.Expected + " datagrams " + r.ExpectedFrom + " sent to it");
        }

        return problems;
    }

    // perfgen's datagrams that should have landed in class c of device: the priorities --expect sends there, or, without
    // --expect, the priorities whose probe that class counted.
    private static (long Expected, string? From) ExpectedIn(DeviceWatch watch, string device, TcHandle c, Dictionary<uint, long> sent)
    {
        WatchSettings settings = watch.Settings;
        long expected = 0;
        var from = new List<string>();
        foreach ((uint p, long n) in sent)
        {
            bool lands = settings.Expect.Count > 0
                ? settings.Expect.TryGetValue(p, out TcHandle e) && e == c
                : watch.Classified.GetValueOrDefault(p) is { } got && got.Device == device && got.Class == c;
            if (lands)
            {
                expected += n;
                from.Add(Report.FormatPriority(p));
            }
        }

        return (expected, from.Count == 0 ? null : string.Join(",", from) + (settings.Expect.Count > 0 ? " (--expect)" : " (probed)"));
    }
}
