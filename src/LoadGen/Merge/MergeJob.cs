using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Perf.LoadGen.Merge;

/// <summary>perfgen merge: the JSON reports of several hosts (or runs) as one, judged again (<see cref="ReportMerge"/>).</summary>
internal static class MergeJob
{
    private static readonly string[] s_commands = ["send", "sink", "selftest", "qdisc-test", "forward", "watch"];

    internal static int Run(Invocation run, IReadOnlyList<string> files, string? json, string? html, bool quiet)
    {
        var report = new Report(run, quiet, humanToStderr: json == "-");
        List<JsonObject> inputs = [.. files.Select(Read)]; // every input is checked before anything is written
        JsonObject merged = ReportMerge.Merge(inputs);
        if (!quiet)
        {
            Summarize(merged, files.Count, report);
        }
        if (json is not null)
        {
            using Stream stream = json == "-" ? Console.OpenStandardOutput() : File.Create(json);
            using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                merged.WriteTo(w);
            }

            if (json == "-")
            {
                stream.WriteByte((byte)'\n');
            }
        }

        if (html is not null)
        {
            HtmlReport.Write(html, "perfgen merge of " + files.Count + " reports", merged);
        }

        return merged["pass"]?.GetValue<bool>() == false ? ExitCodes.CheckFailed : ExitCodes.Ok;
    }

    // One report, or a one-line reason it is not one perfgen wrote.
    private static JsonObject Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new FormatException("merge: no report at " + path);
        }

        try
        {
            if (JsonNode.Parse(File.ReadAllText(path)) is JsonObject o && o["command"]?.GetValueKind() == JsonValueKind.String
                && (s_commands.Contains(o["command"]!.GetValue<string>()) || o.ContainsKey("merged_reports")))
            {
                return o;
            }
        }
        catch (JsonException e)
        {
            throw new FormatException("merge: " + path + " is not JSON: " + e.Message);
        }

        throw new FormatException("merge: " + path + " is not a perfgen --json report (no \"command\" of " + string.Join(", ", s_commands) + ")");
    }

    private static void Summarize(JsonObject merged, int files, Report report)
    {
        var table = new Table().Title("merged from " + files + " reports").AddColumn("priority");
        foreach (string c in (string[])["sent", "received", "p50", "p99", "qdisc p50", "qdisc p99"])
        {
            table.AddColumn(new TableColumn(c).RightAligned());
        }

        var rows = new SortedDictionary<long, string?[]>();
        Fill(merged["send"]?["per_priority"] as JsonArray, rows, p => [Count(p["packets"]), null, null, null, Micros(p["qdisc_delay_us"]?["p50"]), Micros(p["qdisc_delay_us"]?["p99"])]);
        Fill(merged["sink"]?["per_priority"] as JsonArray, rows, p => [null, Count(p["packets"]), Micros(p["latency_us"]?["p50"]), Micros(p["latency_us"]?["p99"]), null, null]);
        foreach ((long priority, string?[] cells) in rows)
        {
            table.AddRow([Report.FormatPriority((uint)priority), .. cells.Select(c => c ?? "–")]);
        }

        if (rows.Count > 0)
        {
            report.Console.Write(table);
        }

        foreach (JsonNode? p in merged["problems"] as JsonArray ?? [])
        {
            report.Line("[red]FAIL[/] " + Markup.Escape(p!.ToString()));
        }

        if (merged["pass"] is { } pass)
        {
            report.Line(pass.GetValue<bool>() ? "[green]PASS[/]" : "[red]FAIL[/]");
        }
    }

    // Each priority's cells from one side; the other side's stay as they are.
    private static void Fill(JsonArray? perPriority, SortedDictionary<long, string?[]> rows, Func<JsonObject, string?[]> cells)
    {
        foreach (JsonObject p in perPriority?.OfType<JsonObject>() ?? [])
        {
            long key = (long)ReportMerge.Num(p["priority"]);
            string?[] row = rows.GetValueOrDefault(key) ?? new string?[6];
            string?[] add = cells(p);
            for (int i = 0; i < row.Length; i++)
            {
                row[i] = add[i] ?? row[i];
            }

            rows[key] = row;
        }
    }

    private static string? Count(JsonNode? n) => n is null ? null : ((long)ReportMerge.Num(n)).ToString("N0", CultureInfo.InvariantCulture);

    private static string? Micros(JsonNode? n) => n is null ? null : QdiscTestRun.Micros((long)ReportMerge.Num(n));
}
