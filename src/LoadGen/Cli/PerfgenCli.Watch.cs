using System.CommandLine;
using Perf.Host;

namespace Perf.LoadGen.Cli;

// send's --watch and --expect: a device whose qdisc classes are read while sending, and the class each priority should reach.
internal static partial class PerfgenCli
{
    private static readonly Option<string[]> s_watch = new("--watch")
    {
        Description = "Read DEV's qdisc classes over rtnetlink every --interval while sending (repeatable; only reads): per-class rates, drops, backlog and overlimits, and how much of each class's traffic was perfgen's",
        HelpName = "DEV",
        AllowMultipleArgumentsPerToken = false,
    };

    private static readonly Option<string?> s_expect = new("--expect")
    {
        Description = "PRIORITY=CLASS,… e.g. 0x10010=1:10,3=1:30: the class each priority must land in on a watched device; exit 1 where a class counted fewer than was sent to it",
    };

    private static WatchSettings ReadWatch(ParseResult p) => Watching(p.GetValue(s_watch) ?? [], p.GetValue(s_expect), "--watch");

    private static WatchSettings Watching(string[] devices, string? expect, string what)
    {
        foreach (string d in devices)
        {
            if (d.Length is 0 or > 15 || !d.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '@'))
            {
                throw new FormatException("bad " + what + " '" + d + "': a network device name");
            }
        }

        return new WatchSettings(devices.Distinct().ToArray(), expect is { } e ? ParseExpect(e) : new Dictionary<uint, TcHandle>());
    }

    // perfgen watch DEV…: a device's classes over time where the qdisc is (a router), nothing sent.
    private static Command WatchSubcommand(Invocation run)
    {
        var devices = new Argument<string[]>("devices") { Description = "Network devices whose qdisc classes are read", Arity = ArgumentArity.OneOrMore };
        Command watch = Subcommand("watch", "Read DEV's qdisc classes over rtnetlink every --interval where the qdisc is (a router), sending nothing, until --duration or Ctrl+C; perfgen merge lines it up with the sender's report (only reads)",
            [s_duration, s_interval, s_expect, s_json, s_html, s_quiet],
            p => Perf.LoadGen.Watch.WatchCommand.Run(run, Watching(p.GetValue(devices)!, p.GetValue(s_expect), "device"),
                Opt(p, s_duration) is { } d ? Parsers.ParseDuration(d) : null, Parsers.ParseDuration(p.GetValue(s_interval)!), p.GetValue(s_json), p.GetValue(s_html), p.GetValue(s_quiet)));
        watch.Arguments.Add(devices);
        return watch;
    }

    /// <summary>"0x10010=1:10,3=1:30": a priority (decimal or 0x hex) and the class (MAJOR:MINOR, hex) it must land in.</summary>
    internal static Dictionary<uint, TcHandle> ParseExpect(string text)
    {
        var expect = new Dictionary<uint, TcHandle>();
        foreach (string item in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = item.IndexOf('=', StringComparison.Ordinal);
            uint p = 0;
            TcHandle c = default;
            bool ok = eq > 0 && Parsers.TryParseU32(item[..eq], out p) && TryHandle(item[(eq + 1)..], out c);
            if (!ok || !expect.TryAdd(p, c))
            {
                throw new FormatException("bad --expect entry '" + item + "': use PRIORITY=CLASS (e.g. 0x10010=1:10), each priority once");
            }
        }

        return expect.Count > 0 ? expect : throw new FormatException("bad --expect '" + text + "': use PRIORITY=CLASS,…");
    }

    private static bool TryHandle(string text, out TcHandle handle)
    {
        try
        {
            handle = TcHandle.Parse(text);
            return handle.Minor != 0;
        }
        catch (FormatException)
        {
            handle = default;
            return false;
        }
    }
}
