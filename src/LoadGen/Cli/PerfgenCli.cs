using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using Perf.Batch;
using Perf.Host;

namespace Perf.LoadGen.Cli;

/// <summary>perfgen's command line. Exit codes: 0 success, 1 the run failed its checks, 2 bad input or setup error.</summary>
internal static partial class PerfgenCli
{
    private const int Ok = ExitCodes.Ok;
    private const int CheckFailed = ExitCodes.CheckFailed;
    private const int BadInput = ExitCodes.BadInput;

    private static readonly Option<string?> s_dest = new("--dest") { Description = "Destination HOST:PORT", HelpName = "HOST:PORT" };
    private static readonly Option<string?> s_rate = new("--rate") { Description = "Packets/s (N, Nk, NM) or bits/s of IP packets (Nbps, Nkbps, NMbps, NGbps); unlimited when absent" };
    private static readonly Option<string?> s_duration = new("--duration") { Description = "How long to run, e.g. 10s, 500ms" };
    private static readonly Option<string?> s_warmup = new("--warmup") { Description = "Send for this long first without counting it in the rate (e.g. 1s)" };
    private static readonly Option<string?> s_count = new("--count") { Description = "How many datagrams to send (or receive)" };
    private static readonly Option<string> s_size = new("--size") { Description = "Datagram size in bytes, or a range MIN-MAX (32 to 65507)", DefaultValueFactory = _ => "64" };
    private static readonly Option<string> s_priorities = new("--priorities") { Description = "VALUE[:WEIGHT],… e.g. \"0:50,3:30,6:20\" or \"0x10010:1\" (HTB class 1:10)", DefaultValueFactory = _ => "0,1,2,3,4,5,6" };
    private static readonly Option<string> s_backend = new("--backend") { Description = "sendmmsg, uring or auto", DefaultValueFactory = _ => "auto" };
    private static readonly Option<string> s_batch = new("--batch") { Description = "Datagrams per sendmmsg (1 to 1024)", DefaultValueFactory = _ => "64" };
    private static readonly Option<string> s_threads = new("--threads") { Description = "Sender threads, one sender and ring each", DefaultValueFactory = _ => "1" };
    private static readonly Option<bool> s_connect = new("--connect") { Description = "connect() the socket to the destination" };
    private static readonly Option<string?> s_bind = new("--bind") { Description = "Local ADDR:PORT to bind" };
    private static readonly Option<bool> s_ipv6 = new("--ipv6") { Description = "Use IPv6 (localhost becomes ::1)" };
    private static readonly Option<string> s_interval = new("--interval") { Description = "Live table interval, and one sample per interval in the JSON and HTML reports", DefaultValueFactory = _ => "1s" };
    private static readonly Option<string?> s_json = new("--json") { Description = "Write the final report as JSON to FILE (- for stdout)", HelpName = "FILE" };
    private static readonly Option<bool> s_quiet = new("--quiet") { Description = "No live table or summary" };
    private static readonly Option<string?> s_listen = new("--listen") { Description = "HOST:PORT to receive on", HelpName = "HOST:PORT" };
    private static readonly Option<string> s_idle = new("--idle") { Description = "Stop after this long without datagrams (once some arrived)", DefaultValueFactory = _ => "2s" };
    private static readonly Option<string?> s_to = new("--to") { Description = "Forward to HOST:PORT", HelpName = "HOST:PORT" };
    private static readonly Option<string?> s_map = new("--map") { Description = "Priority map FROM=TO,…[,default=TO] (decimal or 0x hex); unnamed priorities are kept" };
    private static readonly Option<string?> s_encap = new("--encap-header") { Description = "Bytes (hex) put in front of every forwarded datagram", HelpName = "HEX" };
    private static readonly Option<string> s_maxSize = new("--max-size") { Description = "Largest datagram forwarded whole (longer ones arrive truncated and are dropped, counted); sizes the slots", DefaultValueFactory = _ => "65507" };
    private static readonly Option<string> s_strategy = new("--priority-strategy") { Description = "cmsg, socket-per-priority, setsockopt, mark-bpf or auto", DefaultValueFactory = _ => "auto" };
    private static readonly Option<string> s_verify = new("--verify") { Description = "How the sink checks priorities: priority (SO_RCVPRIORITY, 6.14+), mark (a mark-bpf sender), echo (root: priority_to_mark on lo), none, or auto (the strongest that works)", DefaultValueFactory = _ => "auto" };
    private static readonly Option<string> s_key = new("--key") { Description = "What --map looks up: priority (6.14+), mark, dscp, or auto (the priority where the kernel reports it, else the mark)", DefaultValueFactory = _ => "auto" };
    private static readonly Option<string?> s_dev = new("--dev") { Description = "Network device", HelpName = "DEV" };
    private static readonly Option<string> s_gso = new("--gso") { Description = "UDP GSO: runs of equal datagrams as one message: auto (where the kernel takes it), on, off", DefaultValueFactory = _ => "auto" };
    private static readonly Option<string> s_burst = new("--burst") { Description = "Datagrams per run: the priority (and size) is chosen for each run of N consecutive datagrams (1 to 65536)", DefaultValueFactory = _ => "1" };
    private static readonly Option<string?> s_ring = new("--ring") { Description = "Slots per sender, a power of two (64 to 65536); default: enough for full GSO runs of every priority" };
    private static readonly Option<bool> s_strictOrder = new("--strict-order") { Description = "Send in exact enqueue order: no grouping by priority, so runs form only from neighbours (see --burst)" };
    private static readonly Option<bool> s_gro = new("--gro") { Description = "Receive with UDP GRO (coalesced buffers, split again here); every datagram is still checked" };
    private static readonly Option<string?> s_html = new("--html") { Description = "Write a self-contained HTML report (charts, verdicts) to FILE", HelpName = "FILE" };
    private static readonly Option<bool> s_txTimestamps = new("--tx-timestamps") { Description = "Kernel transmit timestamps (SO_TIMESTAMPING SCHED and SND) on every datagram: its time in the qdisc, reported per priority (and class) as qdisc_delay_us" };

    /// <summary>Parses <paramref name="args"/> and runs the command (tests call this in-process).</summary>
    internal static int Run(string[] args) => Run(new Invocation(args), args);

    /// <summary>Parses <paramref name="args"/> and runs the command as <paramref name="run"/>.</summary>
    internal static int Run(Invocation run, string[] args)
    {
        RootCommand root = Build(run);
        ParseResult parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            Console.Error.WriteLine("perfgen: " + parse.Errors[0].Message);
            return BadInput;
        }

        try
        {
            // Every output is checked before the first datagram leaves: a bad path is bad input, with nothing sent.
            Perf.Tools.OutputFile.CheckWritable(parse.GetValue(s_json), "--json");
            Perf.Tools.OutputFile.CheckWritable(parse.GetValue(s_html), "--html");
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            // One line for a person: without .NET's " (Parameter 'name')" suffix.
            string message = e is ArgumentException { ParamName: { } name } ? e.Message.Replace(" (Parameter '" + name + "')", string.Empty, StringComparison.Ordinal) : e.Message;
            Console.Error.WriteLine("perfgen: " + message);
            return BadInput;
        }
        catch (PerfSocketException e)
        {
            Console.Error.WriteLine("perfgen: " + e.Message);
            return BadInput;
        }
        catch (Exception e)
        {
            // The last resort: one line, never a stack trace. After datagrams left, the run itself failed (1).
            Console.Error.WriteLine("perfgen: " + OneLine(e));
            return run.Sending ? CheckFailed : BadInput;
        }
    }

    /// <summary>An exception as one line: its message, and its inner one's where that says more.</summary>
    internal static string OneLine(Exception e)
    {
        string text = e.Message;
        if (e.InnerException is { } inner && !text.Contains(inner.Message, StringComparison.Ordinal))
        {
            text += ": " + inner.Message;
        }

        return text.ReplaceLineEndings(" ");
    }

    private static RootCommand Build(Invocation run)
    {
        var root = new RootCommand(
            "perfgen: UDP load with a per-datagram skb->priority. With no command: 5 s to an embedded loopback sink, " +
            "priorities 0-6, 64-byte datagrams, then every packet's priority is verified.");
        root.Options.Add(s_duration);
        root.Options.Add(s_json);
        root.Options.Add(s_quiet);
        root.SetAction(p => SelfTestCommand.Run(run, Opt(p, s_duration) is { } d ? Parsers.ParseDuration(d) : TimeSpan.FromSeconds(5), p.GetValue(s_json), p.GetValue(s_quiet)));
        root.Subcommands.Add(Subcommand("send", "Send a priority mix to HOST:PORT",
            [s_dest, s_rate, s_duration, s_warmup, s_count, s_size, s_priorities, s_burst, s_gso, s_strictOrder, s_ring, s_backend, s_strategy, s_batch, s_threads, s_connect, s_bind, s_ipv6, s_txTimestamps, s_txTimeLead, s_watch, s_expect, s_interval, s_json, s_html, s_quiet],
            p => SendCommand.Run(run, ReadSend(p), ReadWatch(p), Parsers.ParseDuration(p.GetValue(s_interval)!), p.GetValue(s_json), p.GetValue(s_html), p.GetValue(s_quiet))));
        root.Subcommands.Add(Subcommand("sink", "Receive perfgen datagrams and verify priority, loss, order and duplicates",
            [s_listen, s_duration, s_count, s_idle, s_verify, s_gro, s_interval, s_json, s_html, s_quiet],
            p => SinkCommand.Run(run, ReadSink(p), p.GetValue(s_json), p.GetValue(s_html), p.GetValue(s_quiet))));
        root.Subcommands.Add(Subcommand("forward", "Receive on --listen and send each datagram on to --to, keeping (or remapping) its priority",
            [s_listen, s_to, s_map, s_key, s_encap, s_maxSize, s_gso, s_threads, s_duration, s_warmup, s_txTimestamps, s_interval, s_json, s_quiet], p => RunForward(run, p)));
        root.Subcommands.Add(Subcommand("bpf-attach", "Load and attach the mark_to_priority tc classifier to DEV's egress (tcx, or clsact before Linux 6.6), for --priority-strategy mark-bpf (needs root)",
            [s_dev], p => Classifier(p, attach: true)));
        root.Subcommands.Add(Subcommand("bpf-detach", "Remove the mark_to_priority classifier from DEV", [s_dev], p => Classifier(p, attach: false)));
        root.Subcommands.Add(Subcommand("qdisc-test", "Build a namespace pair with a qdisc on the sending veth, run one sender per class, and judge classification, rates and latency from the qdisc's counters and a sink (needs root)",
            [s_classes, s_qdisc, s_load, s_duration, s_count, s_size, s_burst, s_gso, s_strategy, s_backend, s_maxP99, s_recverr, s_txTimestamps, s_gates, s_gateTolerance, s_etfDelta, s_txTimeLead, s_scenario, s_interval, s_json, s_html, s_quiet],
            p => QdiscTestRun.Run(run, ReadQdiscTest(p))));
        root.Subcommands.Add(MergeCommand(run));
        root.Subcommands.Add(WatchSubcommand(run));
        return root;
    }

    // perfgen merge A.json B.json … : the reports of several hosts as one.
    private static Command MergeCommand(Invocation run)
    {
        var files = new Argument<string[]>("reports") { Description = "perfgen --json reports (send, sink, qdisc-test, forward, or merges of them)", Arity = ArgumentArity.OneOrMore };
        Command merge = Subcommand("merge", "Merge the JSON reports of several hosts: counts and rates summed per priority, class and interval, histograms merged, verdicts judged again",
            [s_json, s_html, s_quiet], p => MergeJob.Run(run, p.GetValue(files)!, p.GetValue(s_json), p.GetValue(s_html), p.GetValue(s_quiet)));
        merge.Arguments.Add(files);
        return merge;
    }

    private static Command Subcommand(string name, string description, Option[] options, Func<ParseResult, int> action)
    {
        var command = new Command(name, description);
        foreach (Option o in options)
        {
            command.Options.Add(o);
        }

        command.SetAction(action);
        return command;
    }

    private static int RunForward(Invocation run, ParseResult p) => ForwardJob.Run(
        run,
        ParseAddress(p.GetValue(s_listen) ?? throw new FormatException("forward needs --listen HOST:PORT"), ipv6: false, "--listen"),
        ParseAddress(p.GetValue(s_to) ?? throw new FormatException("forward needs --to HOST:PORT"), ipv6: false, "--to"),
        p.GetValue(s_map) is { } m ? PriorityMap.Parse(m) : PriorityMap.Identity,
        p.GetValue(s_key) switch
        {
            "auto" => ForwardPriorityKey.Auto,
            "priority" => ForwardPriorityKey.Priority,
            "mark" => ForwardPriorityKey.Mark,
            "dscp" => ForwardPriorityKey.Dscp,
            var k => throw new FormatException("bad --key '" + k + "': priority, mark, dscp or auto"),
        },
        p.GetValue(s_encap) is { } e ? ForwardJob.ParseHex(e) : [],
        ParseInt(p.GetValue(s_maxSize)!, "--max-size", 1, SlotLayout.MaxUdpPayload),
        Parsers.ParseGso(p.GetValue(s_gso)!),
        ParseInt(p.GetValue(s_threads)!, "--threads", 1, 64),
        p.GetValue(s_duration) is { } d ? Parsers.ParseDuration(d) : null,
        p.GetValue(s_warmup) is { } w ? Parsers.ParseDuration(w) : TimeSpan.Zero,
        Parsers.ParseDuration(p.GetValue(s_interval)!),
        p.GetValue(s_json),
        p.GetValue(s_quiet),
        p.GetValue(s_txTimestamps));

    private static string? Opt(ParseResult p, Option<string?> o) => p.GetValue(o);

    private static int Classifier(ParseResult p, bool attach)
    {
        string dev = p.GetValue(s_dev) ?? throw new FormatException((attach ? "bpf-attach" : "bpf-detach") + " needs --dev DEV");
        try
        {
            if (attach)
            {
                MarkClassifier.Attach(dev);
                Console.WriteLine("perfgen: mark_to_priority attached to " + dev + " egress; send with --priority-strategy mark-bpf");
            }
            else
            {
                MarkClassifier.Detach(dev);
                Console.WriteLine("perfgen: mark_to_priority removed from " + dev);
            }

            return Ok;
        }
        catch (PerfSocketException e)
        {
            Console.Error.WriteLine("perfgen: " + e.Message);
            return BadInput;
        }
    }

    internal static SendSettings ReadSend(ParseResult p)
    {
        bool ipv6 = p.GetValue(s_ipv6);
        string dest = p.GetValue(s_dest) ?? throw new FormatException("send needs --dest HOST:PORT");
        DatagramAddress d = ParseAddress(dest, ipv6, "--dest");
        (int min, int max) = Parsers.ParseSize(p.GetValue(s_size)!);

        int batch = ParseInt(p.GetValue(s_batch)!, "--batch", 1, 1024);
        int threads = ParseInt(p.GetValue(s_threads)!, "--threads", 1, 256);
        string? duration = p.GetValue(s_duration);
        string? count = p.GetValue(s_count);
        if (duration is not null && count is not null)
        {
            throw new FormatException("give --duration or --count, not both");
        }

        return new SendSettings
        {
            Destination = d,
            Rate = p.GetValue(s_rate) is { } r ? Parsers.ParseRate(r) : Rate.Unlimited,
            Duration = duration is not null ? Parsers.ParseDuration(duration) : count is null ? TimeSpan.FromSeconds(10) : null,
            Count = count is not null ? ParseCount(count) : null,
            Warmup = p.GetValue(s_warmup) is { } w ? Parsers.ParseDuration(w) : TimeSpan.Zero,
            MinSize = min,
            MaxSize = max,
            Priorities = Parsers.ParsePriorities(p.GetValue(s_priorities)!),
            Strategy = StrategyWithTimestamps(p, oneSocket: p.GetValue(s_txTimeLead) is not null),
            TxTimestamps = p.GetValue(s_txTimestamps),
            TxTimeLeadNs = p.GetValue(s_txTimeLead) is { } lead ? PositiveNs(lead, "--txtime-lead") : 0,
            Backend = Parsers.ParseBackend(p.GetValue(s_backend)!),
            Batch = batch,
            Threads = threads,
            Segmentation = Parsers.ParseGso(p.GetValue(s_gso)!),
            Burst = ParseInt(p.GetValue(s_burst)!, "--burst", 1, 65536),
            StrictOrder = p.GetValue(s_strictOrder),
            Ring = p.GetValue(s_ring) is { } ring ? ParseRing(ring, batch) : 0,
            Connect = p.GetValue(s_connect),
            Bind = p.GetValue(s_bind) is { } b ? ParseAddress(b, ipv6, "--bind") : default,
        };
    }

    // The timestamps come back on one socket's error queue: a socket per priority would scatter them.
    // Timestamps come back on one socket's error queue, and launch times are set on one socket: neither goes with a
    // socket per priority.
    private static PriorityStrategy StrategyWithTimestamps(ParseResult p, bool timestamps = false, bool oneSocket = false)
    {
        PriorityStrategy strategy = Parsers.ParseStrategy(p.GetValue(s_strategy)!);
        return strategy == PriorityStrategy.SocketPerPriority && (timestamps || oneSocket || p.GetValue(s_txTimestamps))
            ? throw new FormatException((oneSocket ? "--txtime-lead sets SO_TXTIME on one socket" : "--tx-timestamps reads one socket's error queue") +
                "; --priority-strategy socket-per-priority sends on one socket per priority: use auto, cmsg, setsockopt or mark-bpf")
            : strategy;
    }

    private static long PositiveNs(string text, string option)
    {
        long ns = Parsers.ParseDuration(text).Ticks * 100;
        return ns > 0 ? ns : throw new FormatException("bad " + option + " '" + text + "': a positive duration, e.g. 2ms");
    }

    private static int ParseRing(string text, int batch)
    {
        int ring = ParseInt(text, "--ring", 64, 65536);
        if ((ring & (ring - 1)) != 0 || ring < batch)
        {
            throw new FormatException("bad --ring '" + text + "': a power of two from 64 to 65536, and at least --batch");
        }

        return ring;
    }

    private static SinkSettings ReadSink(ParseResult p)
    {
        string listen = p.GetValue(s_listen) ?? throw new FormatException("sink needs --listen HOST:PORT");
        return new SinkSettings
        {
            Listen = ParseAddress(listen, ipv6: false, "--listen"),
            Duration = p.GetValue(s_duration) is { } d ? Parsers.ParseDuration(d) : null,
            Count = p.GetValue(s_count) is { } c ? ParseCount(c) : null,
            Idle = Parsers.ParseDuration(p.GetValue(s_idle)!),
            Gro = p.GetValue(s_gro),
            Interval = Parsers.ParseDuration(p.GetValue(s_interval)!),
            Verify = p.GetValue(s_verify) switch
            {
                "auto" => SinkVerify.Auto,
                "priority" => SinkVerify.Priority,
                "mark" => SinkVerify.Mark,
                "echo" => SinkVerify.Echo,
                "none" => SinkVerify.None,
                var v => throw new FormatException("bad --verify '" + v + "': priority, mark, echo, none or auto"),
            },
        };
    }

    private static DatagramAddress ParseAddress(string text, bool ipv6, string option)
    {
        if (ipv6 && text.StartsWith("localhost:", StringComparison.Ordinal))
        {
            text = "[::1]" + text["localhost".Length..];
        }

        if (!DatagramAddress.TryParse(text, out DatagramAddress a))
        {
            throw new FormatException(ResolutionFailure(text, option) ?? "bad " + option + " '" + text + "': use HOST:PORT, IPv6 as [ADDR]:PORT");
        }

        if (ipv6 && a.AddressFamily != AddressFamily.InterNetworkV6)
        {
            throw new FormatException(option + " " + a + " is not IPv6 but --ipv6 was given");
        }

        return a;
    }

    // Well-formed HOST:PORT whose name does not resolve: say so, not "use HOST:PORT". Null when the syntax is the problem.
    private static string? ResolutionFailure(string text, string option)
    {
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || text.Contains('[', StringComparison.Ordinal) || text.IndexOf(':', StringComparison.Ordinal) != colon ||
            !int.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port) || port > 65535)
        {
            return null;
        }

        string host = text[..colon];
        if (IPAddress.TryParse(host, out _))
        {
            return null;
        }

        try
        {
            return Dns.GetHostAddresses(host).Length == 0 ? option + " " + text + ": '" + host + "' has no address" : null;
        }
        catch (SocketException e)
        {
            return option + " " + text + ": cannot resolve '" + host + "' (" + e.Message + ")";
        }
    }

    private static long ParseCount(string text) =>
        long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long n) && n > 0
            ? n
            : throw new FormatException("bad count '" + text + "': a positive whole number");

    private static int ParseInt(string text, string option, int min, int max) =>
        int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) && n >= min && n <= max
            ? n
            : throw new FormatException("bad " + option + " '" + text + "': a whole number from " + min + " to " + max);
}
