using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace Perf.LoadGen.Reporting;

// perfgen send --watch: the watched classes after the run, for a person and in the JSON.
internal sealed partial class Report
{
    internal void WatchSummary(List<ClassDelta> rows, double seconds)
    {
        if (_quiet)
        {
            return;
        }

        var table = new Table().Title("watched classes over the run");
        foreach (string c in (string[])["device", "class", "kind", "packets", "bit/s", "drops", "overlimits", "max backlog", "perfgen's", "other"])
        {
            table.AddColumn(c is "device" or "class" or "kind" ? new TableColumn(c) : new TableColumn(c).RightAligned());
        }

        foreach (ClassDelta r in rows)
        {
            table.AddRow(Markup.Escape(r.Device), r.Class.ToString(), Markup.Escape(r.Kind), N(r.Packets), Parsers.FormatSi(seconds <= 0 ? 0 : r.Bytes * 8 / seconds),
                N(r.Drops), N(r.Overlimits), N(r.MaxBacklog), r.ExpectedFrom is null ? "-" : N(r.Expected) + " " + Markup.Escape(r.ExpectedFrom) + (r.Short ? " [red]short[/]" : string.Empty), N(r.Other));
        }

        _console.Write(table);
    }

    /// <summary>Which class counted each priority's probe, and what --expect said.</summary>
    internal void ClassificationSummary(DeviceWatch watch)
    {
        if (_quiet)
        {
            return;
        }

        var table = new Table().Title("classification (a probe of " + DeviceWatch.ProbeCount + " datagrams per priority before the run)")
            .AddColumn("priority").AddColumn("counted by").AddColumn("--expect");
        foreach ((uint p, (string Device, Perf.Host.TcHandle Class)? got) in watch.Classified)
        {
            string expect = watch.Settings.Expect.TryGetValue(p, out Perf.Host.TcHandle e)
                ? e + (got?.Class == e ? " [green]ok[/]" : " [red]mismatch[/]")
                : "-";
            table.AddRow(FormatPriority(p), got is { } g ? Markup.Escape(g.Device) + " " + g.Class : "[yellow]no watched class[/]", expect);
        }

        _console.Write(table);
    }

    /// <summary>
    /// The "watch" object. <paramref name="alone"/>: <c>perfgen watch</c>, which sends nothing (no probe, no share of
    /// perfgen's yet): <c>perfgen merge</c> with the sender's report fills the share in from <c>expect</c>.
    /// </summary>
    internal static void WriteWatch(Utf8JsonWriter w, DeviceWatch watch, List<ClassDelta> rows, bool? expectPassed, bool alone = false)
    {
        w.WriteStartObject("watch");
        w.WriteNumber("probe_packets_per_priority", alone ? 0 : DeviceWatch.ProbeCount); // at the sink, on top of the run's
        w.WriteBoolean("watch_only", alone);
        if (expectPassed is { } pass)
        {
            w.WriteBoolean("expect_pass", pass);
        }

        WriteExpect(w, watch);

        w.WriteStartArray("classification");
        foreach ((uint p, (string Device, Perf.Host.TcHandle Class)? got) in watch.Classified)
        {
            w.WriteStartObject();
            w.WriteNumber("priority", p);
            w.WriteString("device", got?.Device);
            w.WriteString("class", got?.Class.ToString());
            if (watch.Settings.Expect.TryGetValue(p, out Perf.Host.TcHandle e))
            {
                w.WriteString("expected_class", e.ToString());
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();

        w.WriteStartArray("classes");
        foreach (ClassDelta r in rows)
        {
            w.WriteStartObject();
            w.WriteString("device", r.Device);
            w.WriteString("class", r.Class.ToString());
            w.WriteString("kind", r.Kind);
            w.WriteNumber("packets", r.Packets);
            w.WriteNumber("bytes", r.Bytes);
            w.WriteNumber("drops", r.Drops);
            w.WriteNumber("overlimits", r.Overlimits);
            w.WriteNumber("max_backlog_packets", r.MaxBacklog);
            w.WriteNumber("perfgen_packets", r.Expected);
            if (r.ExpectedFrom is not null)
            {
                w.WriteString("perfgen_priorities", r.ExpectedFrom);
            }

            w.WriteNumber("other_packets", r.Other);
            w.WriteBoolean("short", r.Short);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        WriteWatchIntervals(w, watch);
        w.WriteEndObject();
    }

    // --expect as given: what perfgen merge judges a watch alone by, with the sender's report.
    private static void WriteExpect(Utf8JsonWriter w, DeviceWatch watch)
    {
        w.WriteStartArray("expect");
        foreach ((uint p, Perf.Host.TcHandle c) in watch.Settings.Expect)
        {
            w.WriteStartObject();
            w.WriteNumber("priority", p);
            w.WriteString("class", c.ToString());
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    // Per interval, per class: the counters' deltas since the previous reading (the first from the reading before the run).
    private static void WriteWatchIntervals(Utf8JsonWriter w, DeviceWatch watch)
    {
        w.WriteStartArray("intervals");
        var previous = new Dictionary<string, Dictionary<Perf.Host.TcHandle, Perf.Host.TcStatistics>>(watch.Start);
        double startS = 0;
        foreach ((double endS, var devices) in watch.Samples)
        {
            w.WriteStartObject();
            w.WriteNumber("start_s", Math.Round(startS, 3));
            w.WriteNumber("end_s", Math.Round(endS, 3));
            w.WriteStartArray("classes");
            foreach ((string device, var classes) in devices)
            {
                foreach ((Perf.Host.TcHandle c, Perf.Host.TcStatistics now) in classes)
                {
                    Perf.Host.TcStatistics? before = previous[device].GetValueOrDefault(c);
                    w.WriteStartObject();
                    w.WriteString("device", device);
                    w.WriteString("class", c.ToString());
                    w.WriteNumber("packets", now.Packets - (before?.Packets ?? 0));
                    w.WriteNumber("bytes", now.Bytes - (before?.Bytes ?? 0));
                    w.WriteNumber("drops", now.Drops - (before?.Drops ?? 0));
                    w.WriteNumber("overlimits", now.Overlimits - (before?.Overlimits ?? 0));
                    w.WriteNumber("backlog_packets", now.QueueLength);
                    w.WriteEndObject();
                }

                previous[device] = classes;
            }

            w.WriteEndArray();
            w.WriteEndObject();
            startS = endS;
        }

        w.WriteEndArray();
    }

}
