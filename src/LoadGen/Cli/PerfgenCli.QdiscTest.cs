using System.CommandLine;
using Perf.Batch;

namespace Perf.LoadGen.Cli;

// qdisc-test's options and how they are read.
internal static partial class PerfgenCli
{
    private static readonly Option<string> s_qdisc = new("--qdisc") { Description = "The qdisc under test: htb (rates, ceil, prio), prio or ets (bands; classes are the bands 1..N), taprio (classes 1..N are traffic classes with a gate window each, see --gates), etf (launch times: every datagram carries its own, see --etf-delta)", DefaultValueFactory = _ => "htb" };
    private static readonly Option<string?> s_maxP99 = new("--max-p99") { Description = "Latency bound per class: CLASS=DURATION,… e.g. 1:30=2ms; a class whose p99 is above it fails" };
    private static readonly Option<string?> s_gates = new("--gates") { Description = "taprio: each class's gate window, in class order, e.g. 300us,300us,400us (default 500us each); the cycle is their sum" };
    private static readonly Option<string> s_gateTolerance = new("--gate-tolerance") { Description = "taprio and etf: how far outside its window (its gate; etf: launch time - delta to launch time) a datagram may leave and count as inside", DefaultValueFactory = _ => "20us" };
    private static readonly Option<string?> s_scenario = new("--scenario") { Description = "A named test: prio-hol (bulk traffic saturates one class while a low-rate probe of another measures latency)" };
    private static readonly Option<string> s_classes = new("--classes") { Description = "HTB classes MAJOR:MINOR[=RATE],…; each class id is also the priority that selects it", DefaultValueFactory = _ => "1:10=10mbit,1:20=50mbit,1:30" };
    private static readonly Option<string?> s_load = new("--load") { Description = "Offered load per class: CLASS=RATE|max,… e.g. \"1:10=max,1:20=20mbit,1:30=1k\" (packets/s, or bits/s as Nkbit/Nmbit or NMbps); a class not named runs at max" };
    private static readonly Option<bool> s_recverr = new("--recverr") { Description = "IP_RECVERR on the senders: qdisc drops come back as ENOBUFS and are counted per class" };
    private static readonly Option<string> s_etfDelta = new("--etf-delta") { Description = "etf: how long before its launch time etf hands a datagram to the device; every datagram must leave inside that window", DefaultValueFactory = _ => "1ms" };
    private static readonly Option<string?> s_txTimeLead = new("--txtime-lead") { Description = "Launch times: every datagram carries an SCM_TXTIME of its enqueue time on CLOCK_TAI plus this, for etf (needs CAP_NET_ADMIN); qdisc-test --qdisc etf: default twice --etf-delta" };

    internal static QdiscTestSettings ReadQdiscTest(ParseResult p)
    {
        string qdisc = p.GetValue(s_qdisc) is "htb" or "prio" or "ets" or "taprio" or "etf" ? p.GetValue(s_qdisc)! : throw new FormatException("bad --qdisc '" + p.GetValue(s_qdisc) + "': htb, prio, ets, taprio or etf");
        HtbClass[] classes = Parsers.ParseClasses(p.GetValue(s_classes)!);
        long[]? gates = qdisc == "taprio" ? Parsers.ParseGates(p.GetValue(s_gates), classes)
            : p.GetValue(s_gates) is null ? null : throw new FormatException("--gates is for --qdisc taprio");
        bool timestamps = p.GetValue(s_txTimestamps) || qdisc is "taprio" or "etf"; // judged by the SND timestamps
        (long? etfDelta, long txTimeLead) = ReadEtf(p, qdisc);
        if (qdisc != "htb" && classes.Any(c => c.Minor > 16 || c.Ceil is not null || c.Prio is not null || c.Limit is not null || c.Rate != "10gbit"))
        {
            throw new FormatException("--qdisc " + qdisc + " takes classes that are its bands, MAJOR:1 to MAJOR:16, with no rate, ceil, prio or limit (e.g. 1:1,1:2,1:3)");
        }

        if (Opt(p, s_count) is not null && Opt(p, s_duration) is not null)
        {
            throw new FormatException("give --duration or --count, not both");
        }

        var settings = new QdiscTestSettings
        {
            Classes = classes,
            Qdisc = qdisc,
            Loads = p.GetValue(s_load) is { } load ? Parsers.ParseLoads(load, classes) : [],
            Duration = Opt(p, s_duration) is { } d ? Parsers.ParseDuration(d) : null,
            Count = Opt(p, s_count) is { } c ? ParseCount(c) : 3000,
            Size = Parsers.ParseSize(p.GetValue(s_size)!),
            Burst = ParseInt(p.GetValue(s_burst)!, "--burst", 1, 65536),
            Gso = p.GetResult(s_gso) is { Implicit: false } ? Parsers.ParseGso(p.GetValue(s_gso)!) : SegmentationMode.Off, // see QdiscTestSettings.Gso
            Strategy = StrategyWithTimestamps(p, timestamps),
            TxTimestamps = timestamps,
            Backend = Parsers.ParseBackend(p.GetValue(s_backend)!),
            MaxP99 = p.GetValue(s_maxP99) is { } bounds ? Parsers.ParseLatencyBounds(bounds, classes) : [],
            RecvErr = p.GetValue(s_recverr) || timestamps, // see QdiscTestSettings.TxTimestamps
            Gates = gates,
            GateToleranceNs = Parsers.ParseDuration(p.GetValue(s_gateTolerance)!).Ticks * 100,
            EtfDeltaNs = etfDelta,
            TxTimeLeadNs = txTimeLead,
            Interval = Parsers.ParseDuration(p.GetValue(s_interval)!),
            Json = p.GetValue(s_json),
            Html = p.GetValue(s_html),
            Quiet = p.GetValue(s_quiet),
        };
        return p.GetValue(s_scenario) switch
        {
            null => settings,
            "prio-hol" when p.GetValue(s_load) is null => QdiscTestRun.PrioHol(settings),
            "prio-hol" => throw new FormatException("--scenario prio-hol sets the classes and loads itself; give --max-p99, --duration or --size to change it, not --load"),
            var other => throw new FormatException("bad --scenario '" + other + "': prio-hol"),
        };
    }

    // etf's delta and the launch-time lead: only with --qdisc etf; the lead must leave room for the delta.
    private static (long? DeltaNs, long LeadNs) ReadEtf(ParseResult p, string qdisc)
    {
        bool given = p.GetResult(s_etfDelta) is { Implicit: false } || p.GetValue(s_txTimeLead) is not null;
        if (qdisc != "etf")
        {
            return given ? throw new FormatException("--etf-delta and --txtime-lead are for --qdisc etf") : (null, 0);
        }

        long delta = Parsers.ParseDuration(p.GetValue(s_etfDelta)!).Ticks * 100;
        long lead = p.GetValue(s_txTimeLead) is { } l ? Parsers.ParseDuration(l).Ticks * 100 : 2 * delta;
        if (delta <= 0 || lead <= delta)
        {
            throw new FormatException("--txtime-lead (" + (lead / 1000) + "us) must be longer than --etf-delta (" + (delta / 1000) + "us), which must be positive: etf sends a datagram at its launch time less the delta");
        }

        return (delta, lead);
    }
}
